// The admin's pages: rooms, policies, the hall (sweep and pause), users.
import { ApiError, del, get, newKey, patch, post, put, sentence } from "./api.js";
import { boot, failSoftly } from "./app.js";
import { setTimeZone } from "./format.js";
import { locale, t } from "./i18n.js";
import { setUpAudit } from "./audit.js";
import { studentPicker } from "./picker.js";
import { setUpReports } from "./reports.js";
import { renderSettings } from "./settings.js";
import { busy, cancelButton, clear, h, openDialog, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);

let me;
let rooms;
let live;
let reports;
let audit;

async function main() {
  ({ me, rooms, live } = await boot({ roles: ["admin"], onView }));
  setUpRooms();
  setUpHall();
  setUpUsers();
  reports = setUpReports($("reports"), {
    rooms,
    roomFilter: true,
    exports: true,
    yearStarts: () => policies?.school_year_starts,
  });
  audit = setUpAudit($("audit"), { rooms });
  renderSettings($("settings"), { me, rooms });
  live.addEventListener("change", () => renderHall());
  live.addEventListener("status", () => {
    if (live.state === "live") loadHall();
  });
  document.addEventListener("hallpass:language", () => {
    renderRooms();
    renderHall();
    if (policies) renderPolicies();
  });
  live.start();
  renderRooms();
}

function onView(name) {
  if (name === "policies") loadPolicies();
  if (name === "hall") loadHall();
  if (name === "users") searchUsers();
  if (name === "rooms") rooms.load().then(renderRooms).catch(() => {});
  if (name === "reports") showReports();
  if (name === "audit") audit.show();
}

/** Reports, once the policies tell when the school year starts. */
async function showReports() {
  if (!policies) {
    try {
      policies = await get("/api/policies");
    } catch {
      // a school year starting in August stands in
    }
  }
  reports.show();
}

const optionalInt = (value) => (value === "" || value === null ? null : Number(value));
const validInt = (n, min, max = Infinity) => n === null || (Number.isInteger(n) && n >= min && n <= max);

// --- rooms -------------------------------------------------------------------------

function renderRooms() {
  clear($("room-rows"), rooms.list.map(roomRow));
}

function roomRow(room) {
  const id = (field) => `room-${room.id}-${field}`;
  const name = h("input", { id: id("name"), type: "text", value: room.name, maxlength: "100", "aria-label": t("rooms.name_of", { room: room.name }) });
  const locked = h("input", { id: id("locked"), type: "checkbox", checked: room.locked, "aria-label": t("rooms.locked_of", { room: room.name }) });
  const capacity = h("input", { id: id("capacity"), type: "number", min: "1", inputmode: "numeric", value: room.capacity ?? "", placeholder: t("rooms.no_limit"), "aria-label": t("rooms.capacity_of", { room: room.name }) });
  const minutes = h("input", { id: id("minutes"), type: "number", min: "1", max: "120", inputmode: "numeric", value: room.minutes, "aria-label": t("rooms.minutes_of", { room: room.name }) });
  const enabled = h("input", { id: id("enabled"), type: "checkbox", checked: room.enabled, "aria-label": t("rooms.enabled_of", { room: room.name }) });
  const save = h("button", { type: "button", class: "btn btn-small btn-primary", disabled: true }, t("action.save"));
  const status = h("span", { class: "hint", role: "status" });
  const row = h(
    "tr",
    { class: "room-row", dataset: { room: room.id } },
    h("td", {}, name),
    h("td", {}, locked),
    h("td", {}, capacity),
    h("td", {}, minutes),
    h("td", {}, enabled),
    h("td", { class: "actions" }, status, " ", save),
  );
  const changes = () => {
    const found = {};
    if (name.value.trim() !== room.name) found.name = name.value.trim();
    if (locked.checked !== room.locked) found.locked = locked.checked;
    const cap = optionalInt(capacity.value);
    if (cap !== room.capacity) found.capacity = cap;
    const min = optionalInt(minutes.value);
    if (min !== room.minutes) found.minutes = min;
    if (enabled.checked !== room.enabled) found.enabled = enabled.checked;
    return found;
  };
  row.addEventListener("input", () => {
    save.disabled = Object.keys(changes()).length === 0;
    status.textContent = "";
  });
  save.addEventListener("click", () =>
    busy(save, async () => {
      const body = changes();
      if ("capacity" in body && !validInt(body.capacity, 1)) return report(status, t("rooms.bad_capacity"), capacity);
      if ("minutes" in body && !validInt(body.minutes, 1, 120)) return report(status, t("form.bad_minutes"), minutes);
      if ("name" in body && !body.name) return report(status, t("rooms.need_name"), name);
      try {
        const updated = await patch(`/api/rooms/${encodeURIComponent(room.id)}`, body);
        rooms.set(rooms.list.map((r) => (r.id === updated.id ? updated : r)));
        const fresh = roomRow(updated);
        row.replaceWith(fresh);
        fresh.querySelector(".actions [role=status]").textContent = t("settings.saved");
        fresh.querySelector("input").focus();
      } catch (error) {
        report(status, sentence(error, "staff"));
      }
      return undefined;
    }),
  );
  return row;
}

function report(statusEl, text, focus = null) {
  statusEl.textContent = text;
  statusEl.className = "form-error";
  focus?.focus();
}

function setUpRooms() {
  let key = null;
  $("room-add").addEventListener("input", () => {
    key = null;
  });
  $("room-add").addEventListener("submit", (event) => {
    event.preventDefault();
    const error = $("room-add-error");
    error.textContent = "";
    const body = {
      name: $("new-room-name").value.trim(),
      locked: $("new-room-locked").checked,
      capacity: optionalInt($("new-room-capacity").value),
      minutes: optionalInt($("new-room-minutes").value) ?? 5,
    };
    if (!body.name) return fail(error, t("rooms.need_name"), $("new-room-name"));
    if (!validInt(body.capacity, 1)) return fail(error, t("rooms.bad_capacity"), $("new-room-capacity"));
    if (!validInt(body.minutes, 1, 120)) return fail(error, t("form.bad_minutes"), $("new-room-minutes"));
    key ??= newKey();
    return busy($("room-add-submit"), async () => {
      try {
        const room = await post("/api/rooms", body, { key });
        key = null;
        rooms.set([...rooms.list, room]);
        renderRooms();
        $("room-add").reset();
        toast(t("rooms.added", { room: room.name }));
      } catch (failure) {
        error.textContent = sentence(failure, "staff");
      }
    });
  });
}

function fail(errorEl, text, focus) {
  errorEl.textContent = text;
  focus?.focus();
}

// --- policies ------------------------------------------------------------------------

let policies = null;
let names = new Map(); // student id -> name, for the exempt and keep-apart lists

async function loadPolicies() {
  try {
    policies = await get("/api/policies");
    setTimeZone(policies.timezone);
    await loadNames([...policies.exempt, ...policies.keep_apart.flat()]);
    renderPolicies();
  } catch (error) {
    clear($("policies"), h("p", { class: "form-error", role: "alert" }, sentence(error, "staff")));
  }
}

async function loadNames(ids) {
  const missing = ids.filter((id) => !names.has(id));
  if (!missing.length) return;
  try {
    const found = await get(`/api/users?role=student&ids=${encodeURIComponent(missing.join(","))}`);
    for (const user of Array.isArray(found) ? found : []) names.set(user.id, user.name);
  } catch {
    // ids stay shown as they are
  }
}

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function numberField(key, value, { min = 0, max = 10000, optional = true, empty = "policies.no_limit" } = {}) {
  const id = `policy-${key}`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, t(`policies.${key}`)),
    h("input", { id, type: "number", min: String(min), max: String(max), inputmode: "numeric", value: value ?? "", placeholder: optional ? t(empty) : null, "aria-describedby": `${id}-hint`, dataset: { policy: key, optional: optional ? "1" : "" } }),
    h("p", { class: "hint", id: `${id}-hint` }, t(`policies.${key}_hint`)),
  );
}

function renderPolicies() {
  const p = policies;
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [p.timezone];
  if (!zones.includes(p.timezone)) zones.unshift(p.timezone);
  const form = $("policies");
  const error = h("p", { class: "form-error", role: "alert", id: "policies-error" });
  clear(
    form,
    error,
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("policies.limits")),
      h("div", { class: "policy-grid" }, numberField("daily_limit", p.daily_limit, { min: 1 }), numberField("weekly_limit", p.weekly_limit, { min: 1 }), numberField("cooldown_minutes", p.cooldown_minutes, { optional: false, max: 600 })),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("policies.caps")),
      h("div", { class: "policy-grid" }, numberField("hallway_cap", p.hallway_cap, { min: 1 }), numberField("classroom_cap", p.classroom_cap, { min: 1 })),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("policies.day")),
      h(
        "div",
        { class: "policy-grid" },
        numberField("overtime_end_minutes", p.overtime_end_minutes, { min: 1, max: 600, optional: false }),
        h(
          "div",
          { class: "field" },
          h("label", { for: "policy-day_ends_at" }, t("policies.day_ends_at")),
          h("input", { id: "policy-day_ends_at", type: "time", value: p.day_ends_at, "aria-describedby": "policy-day_ends_at-hint" }),
          h("p", { class: "hint", id: "policy-day_ends_at-hint" }, t("policies.day_ends_at_hint")),
        ),
        h(
          "div",
          { class: "field" },
          h("label", { for: "policy-timezone" }, t("policies.timezone")),
          h("select", { id: "policy-timezone", "aria-describedby": "policy-timezone-hint" }, zones.map((z) => h("option", { value: z, selected: z === p.timezone }, z))),
          h("p", { class: "hint", id: "policy-timezone-hint" }, t("policies.timezone_hint")),
        ),
      ),
    ),
    blackoutsCard(p.blackouts),
    peopleCard(),
    historyCard(p),
    h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn-primary btn-big", id: "policies-save" }, t("policies.save")), h("span", { id: "policies-status", role: "status" })),
  );
  form.onsubmit = (event) => {
    event.preventDefault();
    savePolicies();
  };
}

// Retention (docs/api.md): both fields are left out of the policies while
// unset, so a school that never chose keeps the defaults as they evolve.
const DEFAULT_YEAR_START = 8; // August

function historyCard(p) {
  const month = new Intl.DateTimeFormat(locale(), { month: "long", timeZone: "UTC" });
  const starts = p.school_year_starts ?? DEFAULT_YEAR_START;
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("policies.history")),
    h(
      "div",
      { class: "policy-grid" },
      numberField("retention_days", p.retention_days, { min: 30, max: 3650, empty: "policies.retention_default" }),
      h(
        "div",
        { class: "field" },
        h("label", { for: "policy-school_year_starts" }, t("policies.school_year_starts")),
        h(
          "select",
          { id: "policy-school_year_starts", "aria-describedby": "policy-school_year_starts-hint" },
          Array.from({ length: 12 }, (_, i) => h("option", { value: String(i + 1), selected: i + 1 === starts }, month.format(Date.UTC(2001, i, 1)))),
        ),
        h("p", { class: "hint", id: "policy-school_year_starts-hint" }, t("policies.school_year_starts_hint")),
      ),
    ),
  );
}

function blackoutsCard(list) {
  const rows = h("div", { id: "blackouts" });
  const add = (b) => rows.append(blackoutRow(b));
  list.forEach(add);
  return h(
    "section",
    { class: "card" },
    h("h2", {}, t("policies.blackouts")),
    h("p", { class: "hint" }, t("policies.blackouts_hint")),
    rows,
    h("button", { type: "button", class: "btn", onclick: () => { add({ days: ["mon", "tue", "wed", "thu", "fri"], from: "08:00", to: "08:10" }); rows.lastChild.querySelector("input").focus(); } }, t("policies.add_blackout")),
  );
}

let blackoutCount = 0;

function blackoutRow(b) {
  const n = ++blackoutCount;
  const row = h(
    "fieldset",
    { class: "blackout", dataset: { blackout: "" } },
    h("legend", { class: "visually-hidden" }, t("policies.blackout_n", { n })),
    h(
      "div",
      { class: "choices" },
      WEEKDAYS.map((d) => h("label", { class: "check" }, h("input", { type: "checkbox", value: d, checked: b.days.includes(d), dataset: { day: "" } }), t(`day.${d}`))),
    ),
    h("div", { class: "field" }, h("label", { for: `bo-${n}-from` }, t("policies.from")), h("input", { id: `bo-${n}-from`, type: "time", value: b.from, dataset: { from: "" } })),
    h("div", { class: "field" }, h("label", { for: `bo-${n}-to` }, t("policies.to")), h("input", { id: `bo-${n}-to`, type: "time", value: b.to, dataset: { to: "" } })),
    h("button", { type: "button", class: "btn btn-small", onclick: () => row.remove() }, t("policies.remove")),
  );
  return row;
}

let exempt = [];
let groups = [];

function peopleCard() {
  exempt = [...policies.exempt];
  groups = policies.keep_apart.map((g) => [...g]);
  const box = h("div", {});
  const render = () => {
    clear(
      box,
      h("h3", {}, t("policies.exempt")),
      h("p", { class: "hint" }, t("policies.exempt_hint")),
      tagList(exempt, (id) => {
        exempt = exempt.filter((x) => x !== id);
        render();
      }),
      adder("exempt-add", (student) => {
        if (!exempt.includes(student)) exempt.push(student);
        render();
      }),
      h("h3", {}, t("policies.keep_apart")),
      h("p", { class: "hint" }, t("policies.keep_apart_hint")),
      groups.map((group, i) =>
        h(
          "div",
          { class: "blackout" },
          h("strong", {}, t("policies.group_n", { n: i + 1 })),
          tagList(group, (id) => {
            groups[i] = group.filter((x) => x !== id);
            render();
          }),
          adder(`group-${i}-add`, (student) => {
            if (!group.includes(student)) group.push(student);
            render();
          }),
          h("button", { type: "button", class: "btn btn-small", onclick: () => { groups.splice(i, 1); render(); } }, t("policies.remove_group")),
        ),
      ),
      h("button", { type: "button", class: "btn", onclick: () => { groups.push([]); render(); } }, t("policies.add_group")),
    );
  };
  render();
  return h("section", { class: "card" }, h("h2", {}, t("policies.people")), box);
}

function tagList(ids, remove) {
  if (!ids.length) return h("p", { class: "muted" }, t("policies.nobody"));
  return h(
    "ul",
    { class: "tag-list" },
    ids.map((id) => {
      const name = names.get(id) ?? id;
      return h("li", {}, name, h("button", { type: "button", class: "btn btn-quiet btn-small", "aria-label": t("policies.remove_name", { name }), onclick: () => remove(id) }, "×"));
    }),
  );
}

function adder(id, onAdd) {
  const picker = studentPicker(id, { labelKey: "policies.add_student" });
  const button = h("button", { type: "button", class: "btn btn-small" }, t("policies.add"));
  const status = h("p", { class: "hint", role: "status" });
  button.addEventListener("click", () => {
    const who = picker.value();
    if (!who?.student) {
      status.textContent = t("policies.pick_from_list");
      picker.input.focus();
      return;
    }
    names.set(who.student, who.name);
    onAdd(who.student);
  });
  return h("div", { class: "row" }, picker.element, button, status);
}

function readPolicies() {
  const value = (key) => $(`policy-${key}`).value;
  const body = {
    daily_limit: optionalInt(value("daily_limit")),
    weekly_limit: optionalInt(value("weekly_limit")),
    cooldown_minutes: optionalInt(value("cooldown_minutes")) ?? 0,
    hallway_cap: optionalInt(value("hallway_cap")),
    classroom_cap: optionalInt(value("classroom_cap")),
    overtime_end_minutes: optionalInt(value("overtime_end_minutes")) ?? 15,
    timezone: value("timezone"),
    day_ends_at: value("day_ends_at"),
    blackouts: [...document.querySelectorAll("[data-blackout]")].map((row) => ({
      days: [...row.querySelectorAll("[data-day]:checked")].map((box) => box.value),
      from: row.querySelector("[data-from]").value,
      to: row.querySelector("[data-to]").value,
    })),
    exempt,
    keep_apart: groups.filter((g) => g.length >= 2),
  };
  const retention = optionalInt(value("retention_days"));
  if (retention !== null) body.retention_days = retention;
  const starts = Number(value("school_year_starts"));
  if (policies.school_year_starts !== undefined || starts !== DEFAULT_YEAR_START) body.school_year_starts = starts;
  return body;
}

function checkPolicies(body) {
  for (const key of ["daily_limit", "weekly_limit", "hallway_cap", "classroom_cap"]) {
    if (!validInt(body[key], 1)) return [key, t("policies.bad_number")];
  }
  if (!validInt(body.cooldown_minutes, 0, 600)) return ["cooldown_minutes", t("policies.bad_number")];
  if (!validInt(body.overtime_end_minutes, 1, 600)) return ["overtime_end_minutes", t("policies.bad_number")];
  if (!body.day_ends_at) return ["day_ends_at", t("policies.bad_time")];
  if (!validInt(body.retention_days ?? null, 30, 3650)) return ["retention_days", t("policies.bad_retention")];
  for (const b of body.blackouts) {
    if (!b.days.length || !b.from || !b.to || b.from >= b.to) return [null, t("policies.bad_blackout")];
  }
  return null;
}

async function savePolicies() {
  const error = $("policies-error");
  const status = $("policies-status");
  error.textContent = "";
  status.textContent = "";
  const body = readPolicies();
  const problem = checkPolicies(body);
  if (problem) {
    error.textContent = problem[1];
    if (problem[0]) $(`policy-${problem[0]}`).focus();
    return;
  }
  await busy($("policies-save"), async () => {
    try {
      policies = await put("/api/policies", body);
      setTimeZone(policies.timezone);
      status.textContent = t("settings.saved");
      status.className = "form-ok";
      toast(t("policies.saved"));
    } catch (failure) {
      error.textContent = sentence(failure, "staff");
    }
  });
}

// --- the hall -----------------------------------------------------------------------------

let paused = null;

async function loadHall() {
  try {
    paused = (await get("/api/hall")).paused;
  } catch {
    paused = null;
  }
  renderHall();
}

function renderHall() {
  const passes = [...live.passes.values()];
  const counts = {
    active: passes.filter((p) => p.state === "active").length,
    pending: passes.filter((p) => p.state === "pending").length,
    waiting: passes.filter((p) => p.state === "waiting").length,
  };
  const box = $("hall-state");
  const stats = h(
    "div",
    { class: "summary" },
    ["active", "pending", "waiting"].map((k) => h("span", { class: "stat" }, h("strong", { class: "num" }, String(counts[k])), t(`hall.count_${k}`, { n: counts[k] }))),
  );
  const resume = h(
    "button",
    {
      type: "button",
      class: "btn btn-primary",
      onclick: (e) =>
        busy(e.currentTarget, async () => {
          try {
            await del("/api/hall/pause");
            paused = false;
            toast(t("hall.resumed"));
            renderHall();
          } catch (error) {
            toast(sentence(error, "staff"), { error: true });
          }
        }),
    },
    t("hall.resume"),
  );
  clear(
    box,
    h("h2", {}, t("hall.now")),
    stats,
    paused === true ? h("p", { class: "frozen-note" }, t("hall.paused")) : paused === false ? h("p", { class: "muted" }, t("hall.open")) : null,
    paused !== false ? resume : null,
  );
}

function setUpHall() {
  $("sweep").addEventListener("submit", async (event) => {
    event.preventDefault();
    const pause = $("sweep-pause").checked;
    const choice = await openDialog({
      title: t("hall.confirm_title"),
      body: h("p", {}, t(pause ? "hall.confirm_pause" : "hall.confirm")),
      actions: [cancelButton(), h("button", { type: "submit", class: "btn btn-danger", value: "sweep" }, t("hall.sweep_button"))],
    });
    if (choice !== "sweep") return;
    await busy($("sweep-submit"), async () => {
      try {
        const result = await post("/api/hall/sweep", { pause });
        $("sweep-result").textContent = t("hall.swept", { n: result.ended });
        $("sweep-result").className = "form-ok";
        if (pause) paused = true;
        renderHall();
      } catch (error) {
        $("sweep-result").textContent = sentence(error, "staff");
        $("sweep-result").className = "form-error";
      }
    });
  });
}

// --- users ------------------------------------------------------------------------------------

let usersTimer = null;
let usersRun = 0;
let shownUsers = [];
let editing = null; // the person whose edit form is open

const NUMBER_ROLES = ["student"];
const ROOM_ROLES = ["kiosk", "teacher"];

function setUpUsers() {
  $("user-search").addEventListener("input", () => {
    clearTimeout(usersTimer);
    usersTimer = setTimeout(searchUsers, 250);
  });
  $("user-role").addEventListener("change", searchUsers);
  $("user-active").addEventListener("change", searchUsers);
  setUpAddUser();
  setUpEditUser();
  document.addEventListener("hallpass:language", () => {
    renderUsers();
    fitAddForm();
    if (editing) fillEditForm(editing);
  });
}

async function searchUsers() {
  const run = ++usersRun;
  const q = $("user-search").value.trim();
  const role = $("user-role").value;
  const active = $("user-active").value;
  const params = new URLSearchParams({ limit: "100" });
  if (q) params.set("q", q);
  if (role) params.set("role", role);
  if (active) params.set("active", active);
  let users;
  try {
    users = await get(`/api/users?${params}`);
  } catch (error) {
    if (run !== usersRun) return;
    clear($("user-rows"));
    $("users-note").textContent = error instanceof ApiError && (error.status === 404 || error.status === 405) ? t("users.unavailable") : sentence(error, "staff");
    return;
  }
  if (run !== usersRun) return;
  shownUsers = Array.isArray(users) ? users : (users?.users ?? []);
  renderUsers();
}

function renderUsers() {
  $("users-note").textContent = t("users.found", { n: shownUsers.length });
  clear($("user-rows"), shownUsers.map(userRow));
}

function userRow(u) {
  const edit = h("button", { type: "button", class: "btn btn-small", "aria-label": t("users.edit_of", { name: u.name }), onclick: () => openEditForm(u) }, t("users.edit"));
  const toggle = h(
    "button",
    {
      type: "button",
      class: u.active ? "btn btn-small btn-quiet" : "btn btn-small",
      "aria-label": t(u.active ? "users.deactivate_of" : "users.reactivate_of", { name: u.name }),
      disabled: u.id === me.id,
      onclick: (e) => setActive(u, !u.active, e.currentTarget),
    },
    t(u.active ? "users.deactivate" : "users.reactivate"),
  );
  return h(
    "tr",
    { dataset: { user: u.id } },
    h("td", { class: "student" }, u.name),
    h("td", {}, u.username ?? ""),
    h("td", {}, t(`role.${u.role}`)),
    h("td", { class: "num" }, u.number ?? ""),
    h("td", {}, u.room ? rooms.name(u.room) : ""),
    h("td", {}, u.active === false ? h("span", { class: "badge" }, t("users.inactive")) : t("users.active")),
    h("td", { class: "actions" }, edit, toggle),
  );
}

function replaceShown(user) {
  shownUsers = shownUsers.map((u) => (u.id === user.id ? user : u));
  renderUsers();
}

async function setActive(user, active, button) {
  if (!active) {
    const choice = await openDialog({
      title: t("users.deactivate_title", { name: user.name }),
      body: h("p", {}, t("users.deactivate_hint")),
      actions: [cancelButton(), h("button", { type: "submit", class: "btn btn-danger", value: "yes" }, t("users.deactivate"))],
    });
    if (choice !== "yes") return;
  }
  await busy(button, async () => {
    try {
      const updated = await patch(`/api/users/${encodeURIComponent(user.id)}`, { active });
      replaceShown(updated);
      toast(t(active ? "users.reactivated" : "users.deactivated", { name: updated.name }));
      document.querySelector(`#user-rows tr[data-user="${CSS.escape(updated.id)}"] .actions .btn`)?.focus();
    } catch (error) {
      toast(sentence(error, "staff"), { error: true });
    }
  });
}

function roomChoices(select, selected) {
  clear(select, h("option", { value: "" }, t("users.no_room")), rooms.list.map((r) => h("option", { value: r.id, selected: r.id === selected }, r.name)));
  select.value = selected ?? "";
}

/** Which fields a role has: a student a number, a kiosk or a teacher a room. */
function fitFields(role, numberField, roomField) {
  numberField.hidden = !NUMBER_ROLES.includes(role);
  roomField.hidden = !ROOM_ROLES.includes(role);
}

function fitAddForm() {
  const selected = $("new-user-room").value;
  roomChoices($("new-user-room"), selected);
  fitFields($("new-user-role").value, $("new-user-number-field"), $("new-user-room-field"));
}

function setUpAddUser() {
  let key = null;
  fitAddForm();
  $("new-user-role").addEventListener("change", fitAddForm);
  $("user-add").addEventListener("input", () => {
    key = null;
  });
  $("user-add").addEventListener("submit", (event) => {
    event.preventDefault();
    const error = $("user-add-error");
    error.textContent = "";
    const role = $("new-user-role").value;
    const body = { name: $("new-user-name").value.trim(), username: $("new-user-username").value.trim(), role };
    const number = $("new-user-number").value.trim();
    const room = $("new-user-room").value;
    const password = $("new-user-password").value;
    if (NUMBER_ROLES.includes(role)) body.number = number;
    if (ROOM_ROLES.includes(role) && room) body.room = room;
    if (password) body.password = password;
    if (!body.name) return fail(error, t("users.need_name"), $("new-user-name"));
    if (!body.username) return fail(error, t("users.need_username"), $("new-user-username"));
    if (role === "student" && !number) return fail(error, t("users.need_number"), $("new-user-number"));
    if (role === "kiosk" && !room) return fail(error, t("users.need_room"), $("new-user-room"));
    key ??= newKey();
    return busy($("user-add-submit"), async () => {
      try {
        const user = await post("/api/users", body, { key });
        key = null;
        $("user-add").reset();
        fitAddForm();
        shownUsers = [user, ...shownUsers.filter((u) => u.id !== user.id)];
        renderUsers();
        toast(t("users.added", { name: user.name }));
        $("new-user-name").focus();
      } catch (failure) {
        error.textContent = sentence(failure, "staff");
      }
    });
  });
}

function fillEditForm(user) {
  $("user-edit-title").textContent = t("users.edit_title", { name: user.name });
  fitFields(user.role, $("edit-user-number-field"), $("edit-user-room-field"));
  roomChoices($("edit-user-room"), user.room);
}

function openEditForm(user) {
  editing = user;
  $("user-edit-error").textContent = "";
  fillEditForm(user);
  $("edit-user-name").value = user.name;
  $("edit-user-number").value = user.number ?? "";
  $("edit-user-password").value = "";
  $("edit-user-active").checked = user.active !== false;
  $("edit-user-active").disabled = user.id === me.id;
  $("user-edit").hidden = false;
  $("edit-user-name").focus();
}

function closeEditForm() {
  const id = editing?.id;
  editing = null;
  $("user-edit").hidden = true;
  if (id) document.querySelector(`#user-rows tr[data-user="${CSS.escape(id)}"] .actions .btn`)?.focus();
}

function setUpEditUser() {
  $("user-edit-cancel").addEventListener("click", closeEditForm);
  $("user-edit").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeEditForm();
  });
  $("user-edit").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = editing;
    if (!user) return undefined;
    const error = $("user-edit-error");
    error.textContent = "";
    const body = {};
    const name = $("edit-user-name").value.trim();
    if (!name) return fail(error, t("users.need_name"), $("edit-user-name"));
    if (name !== user.name) body.name = name;
    if (NUMBER_ROLES.includes(user.role)) {
      const number = $("edit-user-number").value.trim();
      if (!number) return fail(error, t("users.need_number"), $("edit-user-number"));
      if (number !== user.number) body.number = number;
    }
    if (ROOM_ROLES.includes(user.role)) {
      const room = $("edit-user-room").value || null;
      if (user.role === "kiosk" && !room) return fail(error, t("users.need_room"), $("edit-user-room"));
      if (room !== user.room) body.room = room;
    }
    const active = $("edit-user-active").checked;
    if (active !== (user.active !== false)) body.active = active;
    const password = $("edit-user-password").value;
    if (password) body.password = password;
    return busy($("user-edit-submit"), async () => {
      try {
        const updated = Object.keys(body).length ? await patch(`/api/users/${encodeURIComponent(user.id)}`, body) : user;
        replaceShown(updated);
        toast(t("users.saved", { name: updated.name }));
        closeEditForm();
      } catch (failure) {
        error.textContent = sentence(failure, "staff");
      }
    });
  });
}

main().catch(failSoftly);
