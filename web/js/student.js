// The student's pages: home (the pass, large, and what is coming), a new or
// scheduled pass, the calendar, settings.
import { get, newKey, post, sentence } from "./api.js";
import { boot, failSoftly } from "./app.js";
import { now } from "./clock.js";
import {
  addDays,
  clock,
  dayKey,
  formatDayKey,
  formatDayTime,
  formatShortDay,
  formatTime,
  minutesText,
  ms,
  timeKey,
  weekStart,
  zonedParts,
  zonedToInstant,
} from "./format.js";
import { t } from "./i18n.js";
import { route, stateBadge, timing, whenOf } from "./passes.js";
import { load } from "./rooms.js";
import { renderSettings } from "./settings.js";
import { everySecond } from "./ticker.js";
import { announce, busy, cancelButton, clear, h, icon, openDialog, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);

let me;
let rooms;
let live;
let history = []; // the student's recent passes (GET /api/passes), for "where am I now"

async function main() {
  ({ me, rooms, live } = await boot({ roles: ["student"], onView }));
  live.addEventListener("change", (event) => {
    noticeChange(event.detail);
    renderHome();
    renderFormNote();
  });
  live.addEventListener("status", () => {
    if (live.state === "live") refreshRooms();
  });
  document.addEventListener("hallpass:language", () => {
    renderHome();
    renderForm();
    if (!$("days").closest("[hidden]")) renderCalendar();
  });
  everySecond(tickHome);
  setUpForm();
  setUpCalendar();
  renderSettings($("settings"), { me, rooms, onSaved: () => renderForm() });
  live.start();
  renderHome();
  loadHistory();
}

function onView(name, wanted) {
  if (name === "new") {
    setWhen(wanted === "schedule" ? "later" : "now");
    renderForm();
    checkPaused();
    refreshRooms(); // how full each place is now ("Full · 2 in line")
  }
  if (name === "calendar") renderCalendar();
}

async function refreshRooms() {
  try {
    await rooms.load();
    renderDestinations();
  } catch {
    // the rooms already shown stay until the next reconnect
  }
}

async function loadHistory() {
  const since = new Date(now() - 30 * 86400000).toISOString();
  try {
    history = await get(`/api/passes?from=${encodeURIComponent(since)}&limit=200`);
  } catch {
    history = [];
  }
  renderForm();
}

// --- home ----------------------------------------------------------------------

function currentPass() {
  for (const p of live.passes.values()) {
    if (p.state === "active" || p.state === "pending" || p.state === "waiting") return p;
  }
  return null;
}

/** Tells the student, once, what just happened to their pass. */
function noticeChange({ kind, item, before }) {
  if (kind !== "pass" || !before || before.state === item.state) return;
  const to = rooms.name(item.destination);
  const said = {
    active: before.state === "pending" ? "notice.approved" : before.state === "waiting" ? "notice.started_from_line" : "notice.started",
    denied: "notice.denied",
    ended: "notice.ended",
    cancelled: "notice.cancelled",
    expired: "notice.expired",
  }[item.state];
  if (said) {
    toast(t(said, { room: to }));
    announce(t(said, { room: to }));
  }
  if (item.state === "ended") history = [item, ...history.filter((p) => p.id !== item.id)];
}

let heroKey = "";

function renderHome() {
  const box = $("current");
  const pass = currentPass();
  if (!live.synced) {
    clear(box, h("div", { class: "card" }, h("p", { class: "muted" }, t("common.loading"))));
    heroKey = "";
  } else if (!pass) {
    clear(
      box,
      h(
        "div",
        { class: "card" },
        h("h2", {}, t("student.no_pass")),
        h("p", { class: "muted" }, t("student.no_pass_hint")),
        h(
          "div",
          { class: "row" },
          h("a", { class: "btn btn-primary btn-big", href: "#new" }, t("action.new_pass")),
          h("a", { class: "btn btn-big", href: "#schedule" }, t("action.schedule_pass")),
        ),
      ),
    );
    heroKey = "";
  } else {
    // Rebuild only when the pass itself changed, so the PIN field keeps what is typed.
    const key = JSON.stringify([pass.id, pass.state, pass.minutes, pass.started_at, pass.overtime, t("pass.to_word")]);
    if (key !== heroKey) {
      clear(box, hero(pass));
      heroKey = key;
    }
  }
  renderUpcoming();
  tickHome(now());
}

function hero(pass) {
  const card = h("article", { class: `pass-hero is-${pass.state}`, "aria-labelledby": "hero-route", dataset: { pass: pass.id } });
  const header = h("div", { class: "spread" }, stateBadge(pass, { over: pass.overtime }), h("span", { class: "muted", id: "hero-since" }));
  const routeLine = h("p", { class: "pass-route", id: "hero-route" }, route(rooms, pass));
  card.append(header, routeLine);
  if (pass.state === "active") {
    card.append(
      h(
        "div",
        { class: "pass-timer" },
        h("span", { class: "clock", id: "hero-clock", role: "timer" }),
        h("span", { class: "clock-label", id: "hero-clock-label" }),
      ),
      h("div", { class: "progress", "aria-hidden": "true" }, h("span", { id: "hero-progress" })),
      h("p", { class: "cue", id: "hero-cue", hidden: true }),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "btn btn-primary btn-big", onclick: (e) => endPass(pass, e.currentTarget) }, t("action.end_pass")),
      ),
    );
    header.lastChild.textContent = t("pass.started_at", { time: formatTime(pass.started_at) });
  } else if (pass.state === "pending") {
    card.append(h("p", {}, t("student.pending_hint", { room: rooms.name(pass.destination) })), pinForm(pass), cancelRow(pass));
    header.lastChild.textContent = t("pass.asked_at", { time: formatTime(pass.created_at) });
  } else if (pass.state === "waiting") {
    card.append(h("p", {}, t("student.waiting_hint", { room: rooms.name(pass.destination) })), cancelRow(pass));
    header.lastChild.textContent = t("pass.asked_at", { time: formatTime(pass.created_at) });
  }
  return card;
}

function cancelRow(pass) {
  return h(
    "div",
    { class: "row" },
    h("button", { type: "button", class: "btn", onclick: (e) => cancelPass(pass, e.currentTarget) }, t("action.cancel_pass")),
  );
}

/** A teacher standing by the student types their PIN here to approve. */
function pinForm(pass) {
  const error = h("p", { class: "form-error", role: "alert", id: "pin-error" });
  const input = h("input", {
    id: "approve-pin",
    type: "password",
    inputmode: "numeric",
    autocomplete: "off",
    maxlength: "6",
    pattern: "[0-9]{4,6}",
    "aria-describedby": "pin-error",
  });
  const button = h("button", { type: "submit", class: "btn btn-primary" }, t("action.approve"));
  let key = null;
  return h(
    "form",
    {
      class: "stack",
      onsubmit: (event) => {
        event.preventDefault();
        const pin = input.value.trim();
        if (!/^[0-9]{4,6}$/.test(pin)) {
          error.textContent = t("student.pin_format");
          input.focus();
          return;
        }
        error.textContent = "";
        key ??= newKey();
        busy(button, async () => {
          try {
            const updated = await post(`/api/passes/${encodeURIComponent(pass.id)}/approve`, { pin }, { key });
            live.apply({ type: "pass", pass: updated });
          } catch (failure) {
            key = null;
            input.value = "";
            error.textContent = failure.status === 401 || failure.code === "bad_pin" || failure.code === "bad_credentials" ? t("err.bad_pin") : sentence(failure);
            input.focus();
          }
        });
      },
    },
    error,
    h(
      "div",
      { class: "pin-form" },
      h("div", { class: "field" }, h("label", { for: "approve-pin" }, t("student.teacher_pin")), input),
      button,
    ),
  );
}

let cueSaid = "";

function tickHome(at) {
  const pass = currentPass();
  const card = document.querySelector(".pass-hero");
  if (!pass || pass.state !== "active" || !card) return;
  const time = timing(pass, at);
  const clockEl = $("hero-clock");
  const label = $("hero-clock-label");
  const cue = $("hero-cue");
  card.classList.toggle("is-over", time.over);
  card.classList.toggle("is-soon", time.soon);
  $("hero-progress")?.style.setProperty("--progress", `${Math.round(time.fraction * 100)}%`);
  if (time.over) {
    clockEl.textContent = `+${clock(-time.left)}`;
    label.textContent = t("pass.over_by", { allowed: minutesText(pass.minutes) });
    cue.hidden = false;
    clear(cue, icon("alert"), t("pass.overtime_cue"));
  } else {
    clockEl.textContent = clock(Math.ceil(time.left));
    label.textContent = t("pass.left_of", { allowed: minutesText(pass.minutes) });
    cue.hidden = !time.soon;
    if (time.soon) clear(cue, icon("bell"), t("pass.one_minute"));
  }
  clockEl.setAttribute("aria-label", time.over ? t("pass.over_aria", { time: clock(-time.left) }) : t("pass.left_aria", { time: clock(Math.ceil(time.left)) }));
  // Say each cue once to screen readers, as it appears.
  const cueNow = time.over ? `over:${pass.id}` : time.soon ? `soon:${pass.id}` : "";
  if (cueNow && cueNow !== cueSaid) announce(time.over ? t("pass.overtime_cue") : t("pass.one_minute"), { assertive: true });
  cueSaid = cueNow;
}

async function endPass(pass, button) {
  await busy(button, async () => {
    try {
      const updated = await post(`/api/passes/${encodeURIComponent(pass.id)}/end`);
      live.apply({ type: "pass", pass: updated });
    } catch (error) {
      toast(sentence(error), { error: true });
    }
  });
}

async function cancelPass(pass, button) {
  await busy(button, async () => {
    try {
      const updated = await post(`/api/passes/${encodeURIComponent(pass.id)}/cancel`);
      live.apply({ type: "pass", pass: updated });
    } catch (error) {
      toast(sentence(error), { error: true });
    }
  });
}

function renderUpcoming() {
  const list = $("upcoming");
  const scheduled = [...live.passes.values()]
    .filter((p) => p.state === "scheduled")
    .map((p) => ({ at: ms(p.start_at), node: scheduledItem(p) }));
  const requests = [...live.requests.values()]
    .filter((r) => r.state === "open")
    .map((r) => ({ at: ms(r.start_at) ?? 0, node: requestItem(r) }));
  const items = [...requests, ...scheduled].sort((a, b) => a.at - b.at);
  if (!live.synced) clear(list);
  else if (!items.length) clear(list, h("li", { class: "empty" }, t("student.nothing_upcoming")));
  else clear(list, items.map((i) => i.node));
}

function scheduledItem(pass) {
  return h(
    "li",
    {},
    h("span", { class: "badge badge-scheduled" }, icon("clock"), formatDayTime(pass.start_at)),
    h("span", { class: "grow" }, h("span", { class: "title" }, route(rooms, pass)), " · ", minutesText(pass.minutes)),
    h("button", { type: "button", class: "btn btn-small", onclick: (e) => cancelPass(pass, e.currentTarget) }, t("action.cancel")),
  );
}

function requestItem(request) {
  const when = request.start_at ? formatDayTime(request.start_at) : t("request.now");
  return h(
    "li",
    {},
    h("span", { class: "badge badge-pending" }, t("request.badge")),
    h(
      "span",
      { class: "grow" },
      h("span", { class: "title" }, t("request.asks", { teacher: request.teacher.name, room: rooms.name(request.destination) })),
      h("br"),
      h("span", { class: "muted" }, when, " · ", minutesText(request.minutes)),
      request.note ? h("span", { class: "note" }, ` · “${request.note}”`) : null,
    ),
    h("button", { type: "button", class: "btn btn-primary btn-small", onclick: (e) => acceptRequest(request, e.currentTarget) }, t("action.accept")),
    h("button", { type: "button", class: "btn btn-small", onclick: (e) => declineRequest(request, e.currentTarget) }, t("action.decline")),
  );
}

async function acceptRequest(request, button) {
  const select = roomSelect("accept-origin", likelyRoom(), (room) => room.id !== request.destination);
  const error = h("p", { class: "form-error", role: "alert" });
  const choice = await openDialog({
    title: t("request.accept_title", { room: rooms.name(request.destination) }),
    body: [error, h("div", { class: "field" }, h("label", { for: "accept-origin" }, t("request.accept_origin")), select)],
    actions: [cancelButton(), h("button", { class: "btn btn-primary", value: "accept", type: "submit" }, t("action.accept"))],
    onOpen: () => select.focus(),
  });
  if (choice !== "accept") return;
  await busy(button, async () => {
    try {
      const answer = await post(`/api/requests/${encodeURIComponent(request.id)}/accept`, { origin: select.value });
      live.apply({ type: "request", request: answer.request });
      live.apply({ type: "pass", pass: answer.pass });
    } catch (failure) {
      toast(sentence(failure), { error: true });
    }
  });
}

async function declineRequest(request, button) {
  await busy(button, async () => {
    try {
      const answer = await post(`/api/requests/${encodeURIComponent(request.id)}/decline`, {});
      live.apply({ type: "request", request: answer });
    } catch (failure) {
      toast(sentence(failure), { error: true });
    }
  });
}

// --- where the student probably is ---------------------------------------------

/**
 * The room the student is most likely in: the room they came back to if a
 * pass just ended; else the room they usually leave from at this time on
 * this weekday; else the room of their latest pass.
 */
function likelyRoom() {
  const at = now();
  const known = history.filter((p) => rooms.get(p.origin)?.enabled);
  const back = known.find((p) => p.ended_at && at - ms(p.ended_at) < 20 * 60000);
  if (back) return back.origin;
  const here = zonedParts(at);
  const minuteNow = here.hour * 60 + here.minute;
  const scores = new Map();
  for (const p of known) {
    const when = zonedParts(whenOf(p));
    const gap = Math.abs(when.hour * 60 + when.minute - minuteNow);
    let score = 0.2; // any past pass says a little
    if (gap <= 40) score += when.weekday === here.weekday ? 3 : 1.5;
    scores.set(p.origin, (scores.get(p.origin) ?? 0) + score);
  }
  let best = null;
  for (const [room, score] of scores) if (best === null || score > scores.get(best)) best = room;
  return best;
}

function roomSelect(id, selected, keep = () => true) {
  const select = h("select", { id });
  if (!selected) select.append(h("option", { value: "" }, t("form.choose_room")));
  for (const room of rooms.enabled().filter(keep)) {
    select.append(h("option", { value: room.id, selected: room.id === selected }, room.name));
  }
  return select;
}

// --- new pass --------------------------------------------------------------------

let paused = false;

/** Passes paused for the school: say so before the student fills the form in. */
async function checkPaused() {
  try {
    paused = Boolean((await get("/api/hall")).paused);
  } catch {
    paused = false;
  }
  renderFormNote();
}

function renderFormNote() {
  const note = $("form-note");
  const pass = currentPass();
  if (pass) {
    clear(note, h("span", {}, t("student.already_have", { room: rooms.name(pass.destination) })), h("a", { href: "#home" }, t("student.see_pass")));
  } else if (paused) {
    clear(note, h("span", {}, t("err.passes_paused")));
  }
  note.hidden = !pass && !paused;
}

let formKey = null; // reused while the same pass is asked for again
let formSig = "";
let minutesTouched = false;

function setUpForm() {
  const form = $("pass-form");
  for (const radio of form.querySelectorAll('input[name="when"]')) {
    radio.addEventListener("change", () => setWhen(radio.value));
  }
  $("pass-origin").addEventListener("change", () => renderDestinations());
  $("pass-minutes").addEventListener("input", () => {
    minutesTouched = true;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitPass();
  });
}

function setWhen(when) {
  const later = when === "later";
  for (const radio of document.querySelectorAll('input[name="when"]')) radio.checked = radio.value === when;
  $("when-later").hidden = !later;
  $("pass-submit").textContent = t(later ? "action.schedule_pass" : "action.start_pass");
  if (later && !$("pass-date").value) {
    const start = now() + 15 * 60000;
    const rounded = start - (start % (5 * 60000));
    $("pass-date").value = dayKey(rounded);
    $("pass-time").value = timeKey(rounded);
    $("pass-date").min = dayKey(now());
  }
}

function renderForm() {
  const origin = $("pass-origin");
  const previous = origin.value;
  const chosen = previous || likelyRoom();
  clear(origin);
  if (!chosen) origin.append(h("option", { value: "" }, t("form.choose_room")));
  for (const room of rooms.enabled()) {
    origin.append(h("option", { value: room.id, selected: room.id === chosen }, room.name));
  }
  const later = document.querySelector('input[name="when"]:checked')?.value === "later";
  $("pass-submit").textContent = t(later ? "action.schedule_pass" : "action.start_pass");
  renderDestinations();
  renderFormNote();
}

function renderDestinations() {
  const box = $("pass-destinations");
  const origin = $("pass-origin").value;
  const previous = box.querySelector("input:checked")?.value ?? null;
  const favorites = me.settings?.favorites ?? [];
  const options = rooms.ordered(favorites).filter((room) => room.id !== origin);
  clear(
    box,
    options.map((room) => {
      const { out, waiting, full } = load(room, null);
      const meta = [];
      if (room.locked) meta.push(h("span", { class: "is-locked" }, t("room.needs_approval")));
      if (full) meta.push(h("span", { class: "is-full" }, waiting ? t("room.full_line", { n: waiting }) : t("room.full")));
      else if (room.capacity !== null && out !== null) meta.push(h("span", {}, t("room.places", { n: room.capacity - out })));
      meta.push(h("span", {}, minutesText(room.minutes)));
      const input = h("input", {
        type: "radio",
        name: "destination",
        value: room.id,
        checked: room.id === previous,
        onchange: () => {
          if (!minutesTouched || !$("pass-minutes").value) $("pass-minutes").value = room.minutes;
          minutesTouched = false;
        },
      });
      return h(
        "label",
        { class: "room-option" },
        input,
        h(
          "span",
          { class: "room-name" },
          favorites.includes(room.id) ? h("span", { class: "star", title: t("room.favorite") }, icon("star"), h("span", { class: "visually-hidden" }, t("room.favorite"))) : null,
          room.locked ? icon("lock") : null,
          room.name,
        ),
        h("span", { class: "room-meta" }, meta),
      );
    }),
  );
  if (!box.querySelector("input:checked")) $("pass-minutes").value = "";
}

async function submitPass() {
  const error = $("pass-error");
  error.textContent = "";
  const origin = $("pass-origin").value;
  const destination = document.querySelector('input[name="destination"]:checked')?.value;
  const minutes = Number($("pass-minutes").value);
  const later = document.querySelector('input[name="when"]:checked').value === "later";
  const problem = (key, focus) => {
    error.textContent = t(key);
    focus?.focus();
  };
  if (!origin) return problem("form.need_origin", $("pass-origin"));
  if (!destination) return problem("form.need_destination", document.querySelector('input[name="destination"]'));
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 120) return problem("form.bad_minutes", $("pass-minutes"));
  const body = { origin, destination, minutes };
  if (later) {
    const day = $("pass-date").value;
    const time = $("pass-time").value;
    if (!day || !time) return problem("form.need_time", $("pass-time"));
    const at = zonedToInstant(day, time);
    if (at <= now()) return problem("form.past_time", $("pass-time"));
    body.start_at = new Date(at).toISOString();
  }
  const sig = JSON.stringify(body);
  if (sig !== formSig || !formKey) {
    formKey = newKey();
    formSig = sig;
  }
  await busy($("pass-submit"), async () => {
    try {
      const pass = await post("/api/passes", body, { key: formKey });
      formKey = null;
      live.apply({ type: "pass", pass });
      toast(t(`created.${pass.state}`, { room: rooms.name(pass.destination), time: pass.start_at ? formatDayTime(pass.start_at) : "" }));
      document.querySelector('input[name="destination"]:checked').checked = false;
      location.hash = "#home";
    } catch (failure) {
      if (failure.status < 500 && failure.status !== 0) formKey = null;
      error.textContent = sentence(failure);
      if (failure.code === "unknown_room") refreshRooms();
    }
  });
}

// --- calendar ----------------------------------------------------------------------

let shownWeek = null;

function setUpCalendar() {
  $("week-prev").addEventListener("click", () => moveWeek(-7));
  $("week-next").addEventListener("click", () => moveWeek(7));
  $("week-this").addEventListener("click", () => {
    shownWeek = null;
    renderCalendar();
  });
}

function moveWeek(days) {
  shownWeek = addDays(shownWeek ?? weekStart(dayKey(now())), days);
  renderCalendar();
}

let calendarRun = 0;

async function renderCalendar() {
  const run = ++calendarRun;
  const today = dayKey(now());
  const first = shownWeek ?? weekStart(today);
  const last = addDays(first, 6);
  $("week-label").textContent = t("calendar.week_of", { from: formatShortDay(zonedToInstant(first, "12:00")), to: formatShortDay(zonedToInstant(last, "12:00")) });
  // A pass is listed by when it was made; a pass made up to two weeks ahead of its day still shows.
  let passes;
  try {
    // Dates are school days (the server reads them in the school's timezone).
    passes = await get(`/api/passes?from=${addDays(first, -14)}&to=${last}&limit=500`);
  } catch (error) {
    if (run === calendarRun) clear($("days"), h("p", { class: "form-error", role: "alert" }, sentence(error)));
    return;
  }
  if (run !== calendarRun) return;
  const byId = new Map(passes.map((p) => [p.id, p]));
  for (const p of live.passes.values()) byId.set(p.id, p);
  const byDay = new Map();
  for (const p of byId.values()) {
    const day = dayKey(whenOf(p));
    if (day < first || day > last) continue;
    if (!byDay.has(day)) byDay.set(day, []);
    byDay.get(day).push(p);
  }
  const days = [];
  for (let day = first; day <= last; day = addDays(day, 1)) {
    const list = (byDay.get(day) ?? []).sort((a, b) => ms(whenOf(a)) - ms(whenOf(b)));
    const weekend = [5, 6].includes(days.length);
    if (weekend && !list.length) continue;
    days.push(dayCard(day, list, day === today));
  }
  clear($("days"), days);
  renderWeekSummary([...byDay.values()].flat());
}

function outSeconds(pass) {
  if (!pass.started_at) return 0;
  const end = ms(pass.ended_at) ?? (pass.state === "active" ? now() : ms(pass.started_at));
  return Math.max(0, (end - ms(pass.started_at)) / 1000);
}

function breakdown(list) {
  const taken = list.filter((p) => p.started_at);
  const seconds = taken.reduce((sum, p) => sum + outSeconds(p), 0);
  const overtime = taken.filter((p) => p.overtime).length;
  const planned = list.filter((p) => p.state === "scheduled").length;
  return { taken: taken.length, minutes: Math.round(seconds / 60), overtime, planned };
}

function breakdownLine(list) {
  const b = breakdown(list);
  const parts = [h("span", {}, h("strong", {}, String(b.taken)), " ", t("calendar.passes_taken", { n: b.taken }))];
  parts.push(h("span", {}, h("strong", {}, minutesText(b.minutes)), " ", t("calendar.out_of_class")));
  if (b.overtime) parts.push(h("span", {}, h("strong", {}, String(b.overtime)), " ", t("calendar.overtime", { n: b.overtime })));
  if (b.planned) parts.push(h("span", {}, h("strong", {}, String(b.planned)), " ", t("calendar.planned", { n: b.planned })));
  return parts;
}

function renderWeekSummary(list) {
  clear($("week-summary"), h("span", { class: "visually-hidden" }, t("calendar.week_total")), breakdownLine(list));
}

function dayCard(day, list, isToday) {
  const destinations = new Map();
  for (const p of list) if (p.started_at) destinations.set(p.destination, (destinations.get(p.destination) ?? 0) + 1);
  const empty = !list.length;
  return h(
    "section",
    { class: `card day${isToday ? " is-today" : ""}${empty ? " is-empty" : ""}`, "aria-label": formatDayKey(day) },
    h(
      "div",
      { class: "day-head" },
      h("h2", {}, formatDayKey(day), " ", isToday ? h("span", { class: "badge badge-scheduled" }, t("calendar.today")) : null),
      empty ? h("span", { class: "muted" }, t("calendar.no_passes")) : h("div", { class: "breakdown" }, breakdownLine(list)),
    ),
    destinations.size
      ? h(
          "ul",
          { class: "chips", "aria-label": t("calendar.destinations") },
          [...destinations].map(([room, n]) => h("li", {}, `${rooms.name(room)} × ${n}`)),
        )
      : null,
    empty ? null : h("ul", { class: "list" }, list.map(calendarItem)),
  );
}

function calendarItem(pass) {
  const time = timing(pass, now());
  const length = pass.started_at ? clock(outSeconds(pass)) : "";
  return h(
    "li",
    {},
    h("span", { class: "num muted" }, formatTime(whenOf(pass))),
    h("span", { class: "grow title" }, route(rooms, pass)),
    length ? h("span", { class: "num" }, length, " ", h("span", { class: "muted" }, t("calendar.of_allowed", { allowed: minutesText(pass.minutes) }))) : null,
    pass.overtime && pass.state !== "active" ? h("span", { class: "badge badge-over" }, t("state.overtime")) : stateBadge(pass, time),
  );
}

main().catch(failSoftly);
