// The teacher's pages: the hall monitor (live), writing a pass, sending a
// request, the day's passes of a room, settings.
import { get, newKey, post, sentence } from "./api.js";
import { boot, failSoftly } from "./app.js";
import { now } from "./clock.js";
import { clock, dayKey, formatDayTime, formatTime, minutesText, ms, timeKey, zonedToInstant } from "./format.js";
import { t } from "./i18n.js";
import { stateBadge, timing } from "./passes.js";
import { studentPicker } from "./picker.js";
import { load } from "./rooms.js";
import { setUpReports } from "./reports.js";
import { renderSettings } from "./settings.js";
import { everySecond } from "./ticker.js";
import { busy, cancelButton, clear, h, icon, openDialog, patchList, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);

let me;
let rooms;
let live;
let reports;

async function main() {
  ({ me, rooms, live } = await boot({ roles: ["teacher", "admin"], onView }));
  $("admin-link").hidden = me.role !== "admin";
  setUpBoard();
  setUpWrite();
  setUpRequest();
  setUpToday();
  // A teacher's reports are of the room set on their account; an admin here may pick any.
  reports = setUpReports($("reports"), { rooms, roomFilter: me.role === "admin" });
  renderSettings($("settings"), { me, rooms });
  live.addEventListener("change", (event) => {
    remember(event.detail);
    renderBoard();
    renderSent();
    if (!$("today-rows").closest("[hidden]")) scheduleToday();
  });
  live.addEventListener("status", () => {
    if (live.state === "live") rooms.load().then(renderRoomSelects).catch(() => {});
    renderBoard();
  });
  document.addEventListener("hallpass:language", () => {
    renderRoomSelects();
    renderPauseButton();
    renderBoard(true);
    renderSent();
    if (!$("today-rows").closest("[hidden]")) renderToday();
  });
  everySecond(tickBoard);
  live.start();
  renderBoard();
}

function onView(name) {
  if (name === "today") renderToday();
  if (name === "board") renderBoard();
  if (name === "reports") reports.show();
}

// --- my room ---------------------------------------------------------------------

const MY_ROOM_KEY = () => `hallpass.myroom.${me.id}`;
let pickedRoom = null; // chosen in the select on this page, for now

/**
 * The teacher's room: the one picked here, else the one their account names
 * (an admin sets it), else the one this device remembers them choosing.
 */
function myRoom() {
  if (pickedRoom !== null) return pickedRoom;
  if (me.room && rooms.get(me.room)) return me.room;
  try {
    return localStorage.getItem(MY_ROOM_KEY()) || "";
  } catch {
    return "";
  }
}

function setMyRoom(id) {
  pickedRoom = id;
  // An account's own room is the school's record; a device only remembers
  // the choice of a teacher who has none.
  if (me.room) return;
  try {
    localStorage.setItem(MY_ROOM_KEY(), id);
  } catch {
    // this device forgets; the select still works for now
  }
}

function roomOptions(select, selected, { blank = null, keep = () => true, describe = null } = {}) {
  clear(select);
  if (blank) select.append(h("option", { value: "" }, blank));
  for (const room of rooms.enabled().filter(keep)) {
    select.append(h("option", { value: room.id, selected: room.id === selected }, describe ? describe(room) : room.name));
  }
  if (selected && rooms.get(selected)?.enabled) select.value = selected;
}

/** A destination's name with what a teacher should know: locked, full, line. */
function describeDestination(room) {
  const { out, waiting, full } = load(room, live.passes.values());
  const notes = [];
  if (room.locked) notes.push(t("room.locked"));
  if (full) notes.push(waiting ? t("room.full_line", { n: waiting }) : t("room.full"));
  else if (room.capacity !== null) notes.push(t("room.places", { n: room.capacity - out }));
  return notes.length ? `${room.name} (${notes.join(", ")})` : room.name;
}

function renderRoomSelects() {
  roomOptions($("my-room"), myRoom(), { blank: t("board.choose_room") });
  roomOptions($("write-origin"), $("write-origin").value || myRoom(), { blank: t("form.choose_room") });
  roomOptions($("write-destination"), $("write-destination").value, { blank: t("form.choose_room"), describe: describeDestination });
  roomOptions($("request-destination"), $("request-destination").value || myRoom(), { blank: t("form.choose_room"), describe: describeDestination });
  roomOptions($("today-room"), $("today-room").value || myRoom(), { blank: t("today.all_rooms") });
}

// --- the board ---------------------------------------------------------------------

let scope = "all";
let paused = false;
let frozenOrder = []; // pass ids in the order shown when the teacher paused
const lastSeen = new Map(); // every pass the board has shown, as last heard of

function remember({ kind, item }) {
  if (kind === "pass") lastSeen.set(item.id, item);
  if (kind === "snapshot") for (const p of live.passes.values()) lastSeen.set(p.id, p);
}

function setUpBoard() {
  renderRoomSelects();
  $("my-room-field").hidden = true;
  for (const radio of document.querySelectorAll('input[name="scope"]')) {
    radio.addEventListener("change", () => {
      scope = radio.value;
      $("my-room-field").hidden = scope !== "mine";
      if (scope === "mine" && !myRoom()) $("my-room").focus();
      renderBoard(true);
    });
  }
  $("my-room").addEventListener("change", () => {
    setMyRoom($("my-room").value);
    renderRoomSelects();
    renderBoard(true);
  });
  $("pause").addEventListener("click", () => {
    paused = !paused;
    frozenOrder = paused ? [...$("out").children].map((row) => row.dataset.key) : [];
    renderPauseButton();
    renderBoard();
  });
  renderPauseButton();
}

function renderPauseButton() {
  const button = $("pause");
  button.setAttribute("aria-pressed", String(paused));
  clear(button, icon(paused ? "play" : "pause"), t(paused ? "board.resume_order" : "board.pause_order"));
  $("frozen-note").hidden = !paused;
  $("frozen-note").textContent = t("board.frozen_note");
}

function inScope(pass) {
  if (scope !== "mine") return true;
  const room = myRoom();
  return !room || pass.origin === room || pass.destination === room;
}

function sortByTime(list, field) {
  return list.sort((a, b) => ms(a[field] ?? a.created_at) - ms(b[field] ?? b.created_at));
}

function renderBoard(force = false) {
  if (force) for (const box of [$("out"), $("pending"), $("line")]) box.replaceChildren();
  const all = [...live.passes.values()].filter(inScope);
  const pending = sortByTime(all.filter((p) => p.state === "pending"), "created_at");
  const line = sortByTime(all.filter((p) => p.state === "waiting"), "created_at");
  let out = sortByTime(all.filter((p) => p.state === "active"), "started_at");

  if (paused) {
    // Frozen: rows keep their place; a pass that ended stays, marked, until resumed;
    // new passes join at the bottom.
    const ids = new Set(out.map((p) => p.id));
    const kept = frozenOrder.map((id) => lastSeen.get(id)).filter(Boolean);
    const added = out.filter((p) => !frozenOrder.includes(p.id));
    frozenOrder = [...frozenOrder, ...added.map((p) => p.id)];
    out = [...kept.map((p) => (ids.has(p.id) ? live.passes.get(p.id) : p)), ...added];
  }

  patchList($("out"), out, { key: (p) => p.id, signature: rowSignature, render: outRow });
  $("out-empty").hidden = out.length > 0 || !live.synced;
  $("out-empty").textContent = live.synced ? t("board.nobody_out") : t("common.loading");
  patchList($("pending"), pending, { key: (p) => p.id, signature: rowSignature, render: pendingItem });
  if (!pending.length) $("pending").replaceChildren(h("p", { class: "empty" }, t("board.none_pending")));
  patchList($("line"), line, { key: (p) => p.id, signature: rowSignature, render: lineItem });
  if (!line.length) $("line").replaceChildren(h("li", { class: "empty" }, t("board.line_empty")));

  $("pending-count").textContent = pending.length;
  $("out-count").textContent = out.filter((p) => p.state === "active").length;
  $("line-count").textContent = line.length;
  tickBoard(now());
}

function rowSignature(p) {
  return JSON.stringify([p.state, p.minutes, p.overtime, p.arrived_at, p.student.name, p.origin, p.destination, rooms.name(p.origin), rooms.name(p.destination)]);
}

function studentCell(pass) {
  return h("td", { class: "student" }, pass.student.name);
}

function outRow(pass) {
  const ended = pass.state !== "active";
  const row = h(
    "tr",
    { class: ended ? "is-ended" : "", dataset: { pass: pass.id } },
    studentCell(pass),
    h("td", {}, rooms.name(pass.origin)),
    h(
      "td",
      {},
      rooms.name(pass.destination),
      pass.arrived_at ? h("span", { class: "muted" }, " · ", t("board.arrived")) : null,
    ),
    h("td", {}, h("span", { class: "time-out", dataset: { timer: "out" } }), h("span", { class: "over-label", dataset: { overLabel: "" } })),
    h("td", { class: "num" }, minutesText(pass.minutes)),
    h(
      "td",
      { class: "actions" },
      ended
        ? h("span", { class: "muted" }, t(`state.${pass.state}`))
        : [
            h("button", { type: "button", class: "btn btn-small", dataset: { focus: "extend" }, "aria-label": t("board.extend_for", { name: pass.student.name }), onclick: (e) => extendPass(pass, e.currentTarget) }, t("action.extend")),
            h("button", { type: "button", class: "btn btn-small btn-primary", dataset: { focus: "end" }, "aria-label": t("board.end_for", { name: pass.student.name }), onclick: (e) => act(pass, "end", e.currentTarget) }, t("action.end")),
          ],
    ),
  );
  return row;
}

function pendingItem(pass) {
  return h(
    "div",
    { class: "approval", dataset: { pass: pass.id } },
    h(
      "div",
      { class: "grow" },
      h("strong", {}, pass.student.name),
      h("div", {}, rooms.name(pass.origin), " ", h("span", { class: "visually-hidden" }, t("pass.to_word")), icon("arrow"), " ", rooms.name(pass.destination), " · ", minutesText(pass.minutes)),
      h("div", { class: "muted" }, t("pass.asked_at", { time: formatTime(pass.created_at) })),
    ),
    h("button", { type: "button", class: "btn btn-primary", dataset: { focus: "approve" }, "aria-label": t("board.approve_for", { name: pass.student.name }), onclick: (e) => act(pass, "approve", e.currentTarget) }, t("action.approve")),
    h("button", { type: "button", class: "btn", dataset: { focus: "deny" }, "aria-label": t("board.deny_for", { name: pass.student.name }), onclick: (e) => act(pass, "deny", e.currentTarget) }, t("action.deny")),
  );
}

function lineItem(pass) {
  return h(
    "li",
    { dataset: { pass: pass.id } },
    h(
      "span",
      { class: "grow" },
      h("span", { class: "title" }, pass.student.name),
      " · ",
      rooms.name(pass.origin),
      " ",
      h("span", { class: "visually-hidden" }, t("pass.to_word")),
      icon("arrow"),
      " ",
      rooms.name(pass.destination),
    ),
    h("span", { class: "muted num" }, t("board.waiting_since", { time: formatTime(pass.created_at) })),
    h("button", { type: "button", class: "btn btn-small", dataset: { focus: "cancel" }, "aria-label": t("board.remove_for", { name: pass.student.name }), onclick: (e) => act(pass, "cancel", e.currentTarget) }, t("board.remove")),
  );
}

function tickBoard(at) {
  let over = 0;
  for (const row of $("out").children) {
    const pass = live.passes.get(row.dataset.key) ?? lastSeen.get(row.dataset.key);
    if (!pass) continue;
    const time = timing(pass, at);
    const isOver = time.over && pass.state === "active";
    if (isOver) over++;
    row.classList.toggle("is-over", isOver);
    row.querySelector("[data-timer]").textContent = clock(time.elapsed);
    row.querySelector("[data-over-label]").textContent = isOver ? t("board.over_by", { time: clock(-time.left) }) : "";
  }
  const stats = [
    ["out", Number($("out-count").textContent)],
    ["overtime", over],
    ["pending", Number($("pending-count").textContent)],
    ["waiting", Number($("line-count").textContent)],
  ];
  const text = stats.map(([k, n]) => t(`board.stat_${k}`, { n })).join(" · ");
  if ($("summary").dataset.text !== text) {
    $("summary").dataset.text = text;
    clear(
      $("summary"),
      stats.map(([k, n]) => h("span", { class: "stat" }, h("strong", { class: "num" }, String(n)), t(`board.stat_${k}_word`, { n }))),
    );
  }
}

async function act(pass, action, button, body = undefined) {
  await busy(button, async () => {
    try {
      const updated = await post(`/api/passes/${encodeURIComponent(pass.id)}/${action}`, body);
      live.apply({ type: "pass", pass: updated });
      lastSeen.set(updated.id, updated);
      renderBoard();
    } catch (error) {
      toast(sentence(error, "staff"), { error: true });
    }
  });
}

async function extendPass(pass, button) {
  const choice = await openDialog({
    title: t("board.extend_title", { name: pass.student.name }),
    body: h("p", {}, t("board.extend_hint")),
    actions: [cancelButton(), ...[2, 5, 10].map((n) => h("button", { type: "submit", class: "btn btn-primary", value: String(n) }, t("board.extend_by", { n })))],
  });
  if (!choice) return;
  await act(pass, "extend", button, { minutes: Number(choice) });
  button.focus?.();
}

// --- write a pass --------------------------------------------------------------------

let writePicker;
let writeKey = null;

function setUpWrite() {
  writePicker = studentPicker("write-who");
  $("write-student").append(writePicker.element);
  $("write-destination").addEventListener("change", () => {
    const room = rooms.get($("write-destination").value);
    if (room) $("write-minutes").value = room.minutes;
  });
  $("write-form").addEventListener("input", () => {
    writeKey = null;
  });
  $("write-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("write-error");
    error.textContent = "";
    const who = writePicker.value();
    const body = {
      origin: $("write-origin").value,
      destination: $("write-destination").value,
      minutes: Number($("write-minutes").value),
    };
    const note = $("write-note").value.trim();
    if (note) body.note = note;
    if (!who) return fail(error, "form.need_student", writePicker.input);
    if (!body.origin) return fail(error, "form.need_origin", $("write-origin"));
    if (!body.destination) return fail(error, "form.need_destination", $("write-destination"));
    if (!Number.isInteger(body.minutes) || body.minutes < 1 || body.minutes > 120) return fail(error, "form.bad_minutes", $("write-minutes"));
    Object.assign(body, who.student ? { student: who.student } : { student_number: who.student_number });
    writeKey ??= newKey();
    await busy($("write-submit"), async () => {
      try {
        const pass = await post("/api/passes", body, { key: writeKey });
        writeKey = null;
        live.apply({ type: "pass", pass });
        toast(t(`written.${pass.state}`, { name: pass.student.name, room: rooms.name(pass.destination) }));
        writePicker.reset();
        $("write-note").value = "";
      } catch (failure) {
        if (failure.status && failure.status < 500) writeKey = null;
        error.textContent = sentence(failure, "staff");
      }
    });
  });
}

function fail(errorEl, key, focus) {
  errorEl.textContent = t(key);
  focus?.focus();
}

// --- send a request ---------------------------------------------------------------------

let requestPicker;
let requestKey = null;

function setUpRequest() {
  requestPicker = studentPicker("request-who");
  $("request-student").append(requestPicker.element);
  for (const radio of document.querySelectorAll('input[name="request-when"]')) {
    radio.addEventListener("change", () => {
      const later = radio.value === "later" && radio.checked;
      $("request-later").hidden = !later;
      if (later && !$("request-date").value) {
        const start = now() + 30 * 60000;
        const rounded = start - (start % (5 * 60000));
        $("request-date").value = dayKey(rounded);
        $("request-time").value = timeKey(rounded);
      }
    });
  }
  $("request-destination").addEventListener("change", () => {
    const room = rooms.get($("request-destination").value);
    if (room) $("request-minutes").value = room.minutes;
  });
  $("request-form").addEventListener("input", () => {
    requestKey = null;
  });
  $("request-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("request-error");
    error.textContent = "";
    const who = requestPicker.value();
    const body = { destination: $("request-destination").value };
    const minutes = $("request-minutes").value;
    if (minutes) body.minutes = Number(minutes);
    const note = $("request-note").value.trim();
    if (note) body.note = note;
    if (!who) return fail(error, "form.need_student", requestPicker.input);
    if (!body.destination) return fail(error, "form.need_destination", $("request-destination"));
    if (minutes && (!Number.isInteger(body.minutes) || body.minutes < 1 || body.minutes > 120)) return fail(error, "form.bad_minutes", $("request-minutes"));
    if (document.querySelector('input[name="request-when"]:checked').value === "later") {
      const day = $("request-date").value;
      const time = $("request-time").value;
      if (!day || !time) return fail(error, "form.need_time", $("request-time"));
      const at = zonedToInstant(day, time);
      if (at <= now()) return fail(error, "form.past_time", $("request-time"));
      body.start_at = new Date(at).toISOString();
    }
    Object.assign(body, who.student ? { student: who.student } : { student_number: who.student_number });
    requestKey ??= newKey();
    await busy($("request-submit"), async () => {
      try {
        const request = await post("/api/requests", body, { key: requestKey });
        requestKey = null;
        live.apply({ type: "request", request });
        toast(t("request.sent_toast", { name: request.student.name, room: rooms.name(request.destination) }));
        requestPicker.reset();
        $("request-note").value = "";
      } catch (failure) {
        if (failure.status && failure.status < 500) requestKey = null;
        error.textContent = sentence(failure, "staff");
      }
    });
  });
}

function renderSent() {
  const mine = [...live.requests.values()]
    .filter((r) => r.state === "open" && (r.teacher.id === me.id || me.role === "admin"))
    .sort((a, b) => ms(a.start_at ?? a.sent_at) - ms(b.start_at ?? b.sent_at));
  if (!mine.length) {
    clear($("sent"), h("li", { class: "empty" }, t("request.none_sent")));
    return;
  }
  clear(
    $("sent"),
    mine.map((r) =>
      h(
        "li",
        {},
        h(
          "span",
          { class: "grow" },
          h("span", { class: "title" }, r.student.name),
          " · ",
          rooms.name(r.destination),
          " · ",
          r.start_at ? formatDayTime(r.start_at) : t("request.now"),
          r.note ? h("span", { class: "note" }, ` · “${r.note}”`) : null,
        ),
        h(
          "button",
          {
            type: "button",
            class: "btn btn-small",
            onclick: (e) =>
              busy(e.currentTarget, async () => {
                try {
                  live.apply({ type: "request", request: await post(`/api/requests/${encodeURIComponent(r.id)}/cancel`) });
                } catch (error) {
                  toast(sentence(error, "staff"), { error: true });
                }
              }),
          },
          t("action.cancel"),
        ),
      ),
    ),
  );
}

// --- today's passes -------------------------------------------------------------------------

let todayTimer = null;
let todayRun = 0;

function setUpToday() {
  $("today-room").addEventListener("change", renderToday);
}

function scheduleToday() {
  clearTimeout(todayTimer);
  todayTimer = setTimeout(renderToday, 700);
}

async function renderToday() {
  const run = ++todayRun;
  // A day given as a date is the school's whole day, in the school's timezone.
  const today = dayKey(now());
  let passes;
  try {
    passes = await get(`/api/passes?from=${today}&to=${today}&limit=500`);
  } catch (error) {
    if (run === todayRun) clear($("today-summary"), h("span", { class: "form-error" }, sentence(error, "staff")));
    return;
  }
  if (run !== todayRun) return;
  const room = $("today-room").value;
  const shown = passes
    .filter((p) => !room || p.origin === room || p.destination === room)
    .sort((a, b) => ms(a.started_at ?? a.start_at ?? a.created_at) - ms(b.started_at ?? b.start_at ?? b.created_at));
  const taken = shown.filter((p) => p.started_at);
  const seconds = taken.reduce((sum, p) => sum + timing(p, now()).elapsed, 0);
  const overtime = taken.filter((p) => p.overtime).length;
  clear(
    $("today-summary"),
    h("span", {}, h("strong", {}, String(taken.length)), " ", t("calendar.passes_taken", { n: taken.length })),
    h("span", {}, h("strong", {}, minutesText(seconds / 60)), " ", t("calendar.out_of_class")),
    h("span", {}, h("strong", {}, String(overtime)), " ", t("calendar.overtime", { n: overtime })),
  );
  $("today-empty").hidden = shown.length > 0;
  clear(
    $("today-rows"),
    shown.map((p) =>
      h(
        "tr",
        {},
        h("td", { class: "num" }, formatTime(p.started_at ?? p.start_at ?? p.created_at)),
        h("td", { class: "student" }, p.student.name),
        h("td", {}, rooms.name(p.origin)),
        h("td", {}, rooms.name(p.destination)),
        h("td", { class: "num" }, p.started_at ? clock(timing(p, now()).elapsed) : "—"),
        h("td", {}, p.overtime && p.state !== "active" ? h("span", { class: "badge badge-over" }, t("state.overtime")) : stateBadge(p, timing(p, now()))),
      ),
    ),
  );
}

main().catch(failSoftly);
