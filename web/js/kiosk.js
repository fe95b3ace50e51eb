// The hallway kiosk of one room. A student types or scans their number
// (a keyboard-wedge scanner types digits, then Enter), picks where they are
// going, and signs back in with the same number. It never lists the roster.
import { ApiError, get, newKey, post, retryable, sentence } from "./api.js";
import { boot, failSoftly } from "./app.js";
import { now } from "./clock.js";
import { clock, formatTime, minutesText, ms } from "./format.js";
import { t } from "./i18n.js";
import { timing } from "./passes.js";
import { load } from "./rooms.js";
import { everySecond } from "./ticker.js";
import { cancelButton, clear, h, icon, openDialog } from "./ui.js";

const $ = (id) => document.getElementById(id);

const DESTINATION_IDLE = 30000; // back to the start when nobody picks a room
const DONE_SHOWN = 6000;
const RELOAD_AFTER = 12 * 3600000; // pick up a new version of the page overnight

let me;
let rooms;
let live;
let room; // this kiosk's room id
let step = "number";
let number = "";
let idleTimer = null;
let confirmed = false; // the kiosk's sign-out was confirmed
let popularity = new Map(); // destination id -> passes from this room lately
const openedAt = Date.now();

async function main() {
  ({ me, rooms, live } = await boot({ roles: ["kiosk"] }));
  room = me.room;
  renderHeader();
  setUpSteps();
  live.addEventListener("change", renderOut);
  live.addEventListener("status", () => {
    if (live.state === "live") refresh();
    renderOut();
  });
  document.addEventListener("hallpass:language", () => {
    renderHeader();
    renderOut();
    if (step === "destination") renderDestinations();
  });
  everySecond(tick);
  live.start();
  renderOut();
  loadPopularity();
  setInterval(refresh, 5 * 60000);
}

function renderHeader() {
  $("room-name").textContent = rooms.name(room);
  document.title = `${rooms.name(room)} · Hallpass`;
  const fullscreen = $("fullscreen");
  fullscreen.hidden = !document.fullscreenEnabled || Boolean(document.fullscreenElement);
}

async function refresh() {
  try {
    await rooms.load();
    renderHeader();
  } catch {
    // keep the rooms we have; the next reconnect tries again
  }
}

/** Destinations students of this room often choose come first. */
async function loadPopularity() {
  try {
    const since = new Date(now() - 30 * 86400000).toISOString();
    const passes = await get(`/api/passes?from=${encodeURIComponent(since)}&limit=500`);
    popularity = new Map();
    for (const p of passes) {
      if (p.origin === room) popularity.set(p.destination, (popularity.get(p.destination) ?? 0) + 1);
    }
  } catch {
    popularity = new Map();
  }
}

// --- the steps -------------------------------------------------------------------

function show(name) {
  step = name;
  $("step-number").hidden = name !== "number";
  $("step-destination").hidden = name !== "destination";
  $("step-done").hidden = name !== "done";
  clearTimeout(idleTimer);
  if (name === "number") {
    $("number").value = "";
    $("number").focus();
    if (Date.now() - openedAt > RELOAD_AFTER) location.reload();
  }
  if (name === "destination") {
    idleTimer = setTimeout(() => show("number"), DESTINATION_IDLE);
    $("destination-title").focus();
  }
  if (name === "done") {
    idleTimer = setTimeout(() => show("number"), DONE_SHOWN);
    $("done-ok").focus();
  }
}

function setUpSteps() {
  $("number-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitNumber();
  });
  $("number").addEventListener("input", () => {
    $("number-error").textContent = "";
  });
  $("destination-cancel").addEventListener("click", () => show("number"));
  $("done-ok").addEventListener("click", () => show("number"));
  // Anyone passing by can reach this screen: signing the kiosk out asks first.
  $("sign-out").addEventListener(
    "click",
    async (event) => {
      if (event.isTrusted && !confirmed) {
        event.stopImmediatePropagation();
        const choice = await openDialog({
          title: t("kiosk.sign_out_title"),
          body: h("p", {}, t("kiosk.sign_out_hint")),
          actions: [cancelButton(), h("button", { type: "submit", class: "btn btn-danger", value: "yes" }, t("action.sign_out"))],
        });
        if (choice === "yes") {
          confirmed = true;
          $("sign-out").click();
        } else {
          show("number");
        }
      }
    },
    { capture: true },
  );
  $("fullscreen").addEventListener("click", () => {
    document.documentElement.requestFullscreen?.().catch(() => {});
  });
  document.addEventListener("fullscreenchange", renderHeader);
  // A scanner may type while a result is still on screen: start over with those digits.
  document.addEventListener("keydown", (event) => {
    if (step === "done" && /^[0-9]$/.test(event.key)) {
      show("number");
      $("number").value = event.key;
      event.preventDefault();
    } else if (step === "destination") {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => show("number"), DESTINATION_IDLE);
      if (event.key === "Escape") show("number");
    }
  });
  // On a wall tablet nothing else should hold the focus for long.
  $("number").addEventListener("blur", () => {
    setTimeout(() => {
      if (step === "number" && !document.querySelector("dialog[open]") && document.activeElement === document.body) {
        $("number").focus();
      }
    }, 300);
  });
  show("number");
}

async function submitNumber() {
  const typed = $("number").value.replace(/\s+/g, "");
  if (!/^[0-9]{1,32}$/.test(typed)) {
    $("number-error").textContent = t("kiosk.number_format");
    $("number").focus();
    return;
  }
  number = typed;
  $("number-submit").disabled = true;
  try {
    // The rooms' counts come along, so the destinations show how full they are now.
    const [pass] = await Promise.all([findLivePass(number), rooms.load().catch(() => rooms)]);
    if (pass) await signBackIn(pass);
    else {
      renderDestinations();
      show("destination");
    }
  } catch (error) {
    $("number-error").textContent = sentence(error);
    $("number").select();
  } finally {
    $("number-submit").disabled = false;
  }
}

let lookupSupported = null;

/** Whether GET /api/passes takes `student_number` (the OpenAPI document says). */
async function canLookUp() {
  if (lookupSupported !== null) return lookupSupported;
  try {
    const doc = await get("/openapi.json");
    const params = doc?.paths?.["/api/passes"]?.get?.parameters ?? [];
    lookupSupported = params.some((p) => p.name === "student_number");
  } catch {
    return false; // try again next time
  }
  return lookupSupported;
}

/** The pass of this student that this kiosk can see and sign in, if any. */
async function findLivePass(studentNumber) {
  if (!(await canLookUp())) return null;
  let found;
  try {
    found = await get(`/api/passes?student_number=${encodeURIComponent(studentNumber)}&state=active,pending,waiting&limit=5`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null; // no such student: the create step says so
    throw error;
  }
  return found.find((p) => p.origin === room || p.destination === room) ?? null;
}

async function signBackIn(pass) {
  const arriving = pass.destination === room && pass.origin !== room && !pass.arrived_at && pass.state === "active";
  if (pass.state !== "active") {
    done(false, t(pass.state === "waiting" ? "kiosk.still_in_line" : "kiosk.still_pending", { name: firstName(pass), room: rooms.name(pass.destination) }));
    return;
  }
  try {
    const updated = await command(`/api/passes/${encodeURIComponent(pass.id)}/${arriving ? "arrive" : "end"}`);
    live.apply({ type: "pass", pass: updated });
    const out = clock(timing(updated, now()).elapsed);
    if (arriving) done(true, t("kiosk.arrived", { name: firstName(updated), room: rooms.name(room) }));
    else done(true, t("kiosk.welcome_back", { name: firstName(updated) }), t("kiosk.was_out", { time: out, room: rooms.name(updated.destination) }));
  } catch (error) {
    done(false, sentence(error));
  }
}

function renderDestinations() {
  $("destination-error").textContent = "";
  const options = rooms
    .enabled()
    .filter((r) => r.id !== room)
    .sort((a, b) => (popularity.get(b.id) ?? 0) - (popularity.get(a.id) ?? 0) || a.name.localeCompare(b.name, undefined, { numeric: true }));
  clear(
    $("destinations"),
    options.map((r) => {
      // A kiosk sees only its own room's passes: the server's counts are the school's.
      const { waiting, full } = load(r, null);
      const meta = [h("span", {}, minutesText(r.minutes))];
      if (full) meta.push(h("span", { class: "is-full" }, waiting ? t("room.full_line", { n: waiting }) : t("room.full")));
      return h(
        "button",
        { type: "button", class: "kiosk-room-btn", onclick: (e) => signOut(r, e.currentTarget) },
        h("span", { class: "room-name" }, r.locked ? icon("lock") : null, r.name),
        h("span", { class: "room-meta" }, meta),
      );
    }),
  );
}

/** A command that keeps trying through a network hiccup, with one key throughout. */
function command(path, body) {
  return post(path, body, {
    key: newKey(),
    attempts: 6,
    onRetry: () => {
      $("destination-error").textContent = t("kiosk.retrying");
    },
  });
}

async function signOut(destination, button) {
  for (const b of $("destinations").querySelectorAll("button")) b.disabled = true;
  clearTimeout(idleTimer);
  try {
    const pass = await command("/api/passes", { student_number: number, origin: room, destination: destination.id });
    live.apply({ type: "pass", pass });
    const name = firstName(pass);
    const where = rooms.name(pass.destination);
    if (pass.state === "active") done(true, t("kiosk.signed_out", { name, room: where }), t("kiosk.back_in", { time: minutesText(pass.minutes) }));
    else if (pass.state === "waiting") done(true, t("kiosk.in_line", { name, room: where }), t("kiosk.in_line_hint"));
    else done(true, t(`created.${pass.state}`, { room: where, time: "" }));
  } catch (error) {
    const unknown = error instanceof ApiError && error.code === "not_found";
    const message = unknown ? t("kiosk.unknown_number") : error.code === "already_out" ? t("kiosk.already_out") : sentence(error);
    if (retryable(error)) {
      $("destination-error").textContent = message;
      for (const b of $("destinations").querySelectorAll("button")) b.disabled = false;
      button.focus();
      idleTimer = setTimeout(() => show("number"), DESTINATION_IDLE);
      return;
    }
    done(false, message);
  }
}

function firstName(pass) {
  return (pass.student?.name ?? "").split(" ")[0] || t("kiosk.student");
}

function done(ok, headline, detail = "") {
  clear(
    $("done"),
    h("span", { class: ok ? "icon-ok" : "icon-bad" }, icon(ok ? "check" : "alert")),
    h("p", { class: "big" }, headline),
    detail ? h("p", {}, detail) : null,
  );
  show("done");
}

// --- who is out ------------------------------------------------------------------------

function renderOut() {
  const passes = [...live.passes.values()];
  const out = passes
    .filter((p) => p.origin === room && (p.state === "active" || p.state === "waiting"))
    .sort((a, b) => ms(a.started_at ?? a.created_at) - ms(b.started_at ?? b.created_at));
  const coming = passes.filter((p) => p.destination === room && p.origin !== room && p.state === "active");
  $("out-title").textContent = t("kiosk.out_from", { room: rooms.name(room), n: out.length });
  clear(
    $("out"),
    !live.synced
      ? h("li", { class: "empty" }, t("common.loading"))
      : out.length
        ? out.map((p) => outItem(p))
        : h("li", { class: "empty" }, t("kiosk.nobody_out")),
  );
  $("coming-title").hidden = coming.length === 0;
  $("coming-title").textContent = t("kiosk.coming", { n: coming.length });
  clear($("coming"), coming.map((p) => outItem(p, true)));
  tick(now());
}

function outItem(pass, coming = false) {
  const place = coming ? rooms.name(pass.origin) : rooms.name(pass.destination);
  return h(
    "li",
    { dataset: { pass: pass.id } },
    h(
      "span",
      { class: "who" },
      h("strong", {}, pass.student.name),
      h(
        "span",
        { class: "where" },
        pass.state === "waiting" ? t("kiosk.waiting_for", { room: place }) : coming ? t("kiosk.from_room", { room: place }) : place,
        pass.arrived_at && coming ? ` · ${t("board.arrived")}` : "",
      ),
    ),
    pass.state === "active"
      ? h("span", {}, h("span", { class: "timer", dataset: { timer: "" } }), h("span", { class: "over", dataset: { over: "" } }))
      : h("span", { class: "badge badge-waiting" }, t("state.waiting")),
  );
}

function tick(at) {
  $("kiosk-clock").textContent = formatTime(at);
  for (const item of document.querySelectorAll(".kiosk-list li[data-pass]")) {
    const pass = live.passes.get(item.dataset.pass);
    const timer = item.querySelector("[data-timer]");
    if (!pass || !timer) continue;
    const time = timing(pass, at);
    timer.textContent = clock(time.elapsed);
    item.classList.toggle("is-over", time.over);
    item.querySelector("[data-over]").textContent = time.over ? t("state.overtime") : "";
  }
}

main().catch(failSoftly);
