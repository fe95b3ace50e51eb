// The reports view (admins: the school or a room; a teacher: their own room):
// a period, charts of GET /api/reports/*, each with its CSV download, the
// students with the most passes (on request: viewing names is audited), and,
// for admins, the exports.
import { ApiError, get, sentence } from "./api.js";
import { barChart, formatNumber } from "./charts.js";
import { now } from "./clock.js";
import { addDays, dayKey, formatShortDay, minutesText, zonedToInstant } from "./format.js";
import { locale, t } from "./i18n.js";
import { searchStudents, studentPicker } from "./picker.js";
import { busy, clear, h } from "./ui.js";

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const PERIODS = ["7", "30", "year", "custom"];
const STUDENTS_LIMIT = 10;

/** The school days of a period choice, as the reports' `from` and `to`. */
export function periodDays(choice, { today, yearStarts = 8, from, to } = {}) {
  if (choice === "7") return { from: addDays(today, -6), to: today };
  if (choice === "year") {
    const [year, month] = today.split("-").map(Number);
    const first = month >= yearStarts ? year : year - 1;
    return { from: `${first}-${String(yearStarts).padStart(2, "0")}-01`, to: today };
  }
  if (choice === "custom") return { from, to };
  return { from: addDays(today, -29), to: today };
}

/** The query every report and download of the view shares. */
function query(period, room, extra = {}) {
  const params = new URLSearchParams({ from: period.from, to: period.to });
  if (room) params.set("room", room);
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== "") params.set(k, v);
  return params.toString();
}

const minutes = (value) => (value === null || value === undefined ? "—" : minutesText(value));
const percent = (rate) => new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 0 }).format(rate);
const hourLabel = (hour) => `${String(hour).padStart(2, "0")}:00`;
const dayText = (day) => formatShortDay(zonedToInstant(day, "12:00"));

/**
 * Fills `container` with the reports view. `roomFilter`: the person may pick
 * any room (an admin); `exports`: show the admin's downloads; `yearStarts`:
 * the month a school year starts (the policies', August unless set), or a
 * function that tells it.
 * Returns {show()}, to call each time the view opens.
 */
export function setUpReports(container, { rooms, roomFilter = false, exports = false, yearStarts = 8 }) {
  const id = (name) => `reports-${name}`;
  const el = {};
  const words = []; // [element, key]: the fixed words, rewritten when the language changes
  const word = (element, key) => {
    words.push([element, key]);
    element.textContent = t(key);
    return element;
  };
  let data = null; // the last answers: {hours, weekdays, destinations, waits}
  let students = null;
  let run = 0;

  const periodSelect = h("select", { id: id("period") });
  const fromInput = h("input", { id: id("from"), type: "date" });
  const toInput = h("input", { id: id("to"), type: "date" });
  const roomSelect = h("select", { id: id("room") });
  const customBox = h(
    "div",
    { class: "row", hidden: true },
    h("div", { class: "field" }, word(h("label", { for: fromInput.id }), "reports.from"), fromInput),
    h("div", { class: "field" }, word(h("label", { for: toInput.id }), "reports.to"), toInput),
  );
  const toolbar = h(
    "form",
    { class: "card reports-toolbar", novalidate: true },
    h(
      "div",
      { class: "row" },
      h("div", { class: "field" }, word(h("label", { for: periodSelect.id }), "reports.period"), periodSelect),
      roomFilter ? h("div", { class: "field" }, word(h("label", { for: roomSelect.id }), "reports.room"), roomSelect) : null,
      customBox,
      word(h("button", { type: "submit", class: "btn btn-primary", id: id("show") }), "reports.show"),
    ),
    (el.scope = h("p", { class: "hint", id: id("scope"), role: "status" })),
  );
  el.error = h("p", { class: "form-error", role: "alert" });
  el.charts = h("div", { class: "chart-grid", id: id("charts"), "aria-busy": "false" });
  el.students = h("section", { class: "card", id: id("students"), "aria-labelledby": id("students-title") });
  el.exports = exports ? h("section", { class: "card exports", id: id("exports"), "aria-labelledby": id("exports-title") }) : null;
  clear(container, toolbar, el.error, el.charts, el.students, el.exports);

  const today = () => dayKey(now());

  const fillSelects = () => {
    const chosen = periodSelect.value || "30";
    clear(periodSelect, PERIODS.map((p) => h("option", { value: p }, t(`reports.period_${p}`))));
    periodSelect.value = chosen;
    if (roomFilter) {
      const room = roomSelect.value;
      clear(roomSelect, h("option", { value: "" }, t("reports.whole_school")), rooms.list.map((r) => h("option", { value: r.id }, r.name)));
      roomSelect.value = room;
    }
  };

  const startMonth = () => (typeof yearStarts === "function" ? yearStarts() : yearStarts) || 8;
  const period = () =>
    periodDays(periodSelect.value, { today: today(), yearStarts: startMonth(), from: fromInput.value, to: toInput.value });
  // A teacher's reports are always of their own room: the server knows which.
  const room = () => (roomFilter ? roomSelect.value : "");

  periodSelect.addEventListener("change", () => {
    if (periodSelect.value === "custom" && !fromInput.value) {
      const last30 = periodDays("30", { today: today() });
      fromInput.value = last30.from;
      toInput.value = last30.to;
    }
    customBox.hidden = periodSelect.value !== "custom";
    if (periodSelect.value !== "custom") load();
  });
  roomSelect.addEventListener("change", () => load());
  toolbar.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });

  async function load() {
    const mine = ++run;
    el.error.textContent = "";
    const chosen = period();
    if (!chosen.from || !chosen.to || chosen.from > chosen.to) {
      el.error.textContent = t("reports.bad_period");
      fromInput.focus();
      return;
    }
    el.charts.setAttribute("aria-busy", "true");
    el.scope.textContent = t("common.loading");
    const q = query(chosen, room());
    try {
      const [hours, weekdays, destinations, waits] = await Promise.all(
        ["hours", "weekdays", "destinations", "waits"].map((name) => get(`/api/reports/${name}?${q}`)),
      );
      if (mine !== run) return;
      data = { period: chosen, room: hours.room ?? "", q, hours, weekdays, destinations, waits };
      students = null; // names are shown again only when asked for (each viewing is audited)
    } catch (error) {
      if (mine !== run) return;
      data = null;
      el.error.textContent =
        error instanceof ApiError && error.status === 403 && !roomFilter ? t("reports.no_room") : sentence(error, "staff");
    } finally {
      if (mine === run) el.charts.setAttribute("aria-busy", "false");
    }
    renderAll();
  }

  function renderAll() {
    renderScope();
    renderCharts();
    renderStudents();
    if (exports) renderExports();
  }

  function renderScope() {
    if (!data) {
      el.scope.textContent = "";
      return;
    }
    const where = data.room ? rooms.name(data.room) : t("reports.whole_school");
    el.scope.textContent = t("reports.scope", { from: dayText(data.period.from), to: dayText(data.period.to), room: where });
  }

  // --- the charts ---------------------------------------------------------------

  function card(name, title, chart, summary) {
    const csv = `/api/reports/${name}.csv?${data.q}`;
    return h(
      "section",
      { class: "card chart-card", dataset: { report: name }, "aria-label": title },
      h("h2", {}, title),
      chart,
      summary ? h("p", { class: "muted chart-summary" }, summary) : null,
      h(
        "a",
        { class: "btn btn-small", href: csv, download: "", dataset: { csv: name } },
        t("reports.download_csv"),
        h("span", { class: "visually-hidden" }, ` (${title})`),
      ),
    );
  }

  function renderCharts() {
    if (!data) {
      clear(el.charts);
      return;
    }
    const { hours, weekdays, destinations, waits } = data;
    const passes = (row) => row.passes;
    const count = (row) => formatNumber(row.passes);
    const total = hours.rows.reduce((sum, row) => sum + row.passes, 0);
    const busiest = (rows, label) => {
      const top = rows.reduce((best, row) => (row.passes > (best?.passes ?? 0) ? row : best), null);
      return top ? t("reports.busiest", { label: label(top), n: top.passes }) : t("reports.no_passes");
    };
    const hourChart = barChart({
      title: t("reports.hours_title"),
      description: `${t("reports.total", { n: total })} ${busiest(hours.rows, (r) => hourLabel(r.hour))}`,
      rows: hours.rows,
      label: (row) => hourLabel(row.hour),
      tickLabel: (row) => String(row.hour),
      series: [{ name: t("reports.passes"), value: passes, text: count }],
      orientation: "vertical",
      integer: true,
      axis: { category: t("reports.axis_hour"), value: t("reports.passes") },
    });
    const dayName = (row) => t(`day.${row.weekday}`);
    const weekdayChart = barChart({
      title: t("reports.weekdays_title"),
      description: `${t("reports.total", { n: total })} ${busiest(weekdays.rows, dayName)}`,
      rows: weekdays.rows,
      label: dayName,
      series: [{ name: t("reports.passes"), value: passes, text: count }],
      orientation: "vertical",
      integer: true,
      axis: { category: t("reports.axis_weekday"), value: t("reports.passes") },
    });
    const places = destinations.rows;
    const topChart = barChart({
      title: t("reports.destinations_title"),
      description: `${t("reports.total", { n: destinations.total.passes })} ${busiest(places, (r) => r.name)}`,
      rows: places,
      label: (row) => row.name,
      series: [{ name: t("reports.passes"), value: passes, text: count }],
      orientation: "horizontal",
      integer: true,
      axis: { category: t("reports.axis_destination"), value: t("reports.passes") },
    });
    const ended = places.filter((row) => row.ended > 0);
    const timeChart = barChart({
      title: t("reports.time_title"),
      description: t("reports.time_desc", { average: minutes(destinations.total.average_minutes), longest: minutes(destinations.total.longest_minutes) }),
      rows: ended,
      label: (row) => row.name,
      series: [
        { name: t("reports.average"), value: (row) => row.average_minutes, text: (row) => minutes(row.average_minutes) },
        { name: t("reports.longest"), value: (row) => row.longest_minutes, text: (row) => minutes(row.longest_minutes) },
      ],
      orientation: "horizontal",
      axis: { category: t("reports.axis_destination"), value: t("reports.axis_minutes") },
    });
    const overtimeChart = barChart({
      title: t("reports.overtime_title"),
      description: t("reports.overtime_desc", { rate: percent(destinations.total.overtime_rate), n: destinations.total.overtime, ended: destinations.total.ended }),
      rows: ended,
      label: (row) => row.name,
      series: [{ name: t("reports.overtime_rate"), value: (row) => row.overtime_rate, text: (row) => t("reports.rate_of", { rate: percent(row.overtime_rate), n: row.overtime, ended: row.ended }) }],
      orientation: "horizontal",
      valueTicks: percent,
      axis: { category: t("reports.axis_destination"), value: t("reports.overtime_rate") },
    });
    const waitChart = barChart({
      title: t("reports.waits_title"),
      description: t("reports.waits_desc", { n: waits.total.waited, gave_up: waits.total.gave_up, average: minutes(waits.total.average_wait_minutes) }),
      rows: waits.rows,
      label: (row) => row.name,
      series: [
        { name: t("reports.average_wait"), value: (row) => row.average_wait_minutes, text: (row) => minutes(row.average_wait_minutes) },
        { name: t("reports.longest_wait"), value: (row) => row.longest_wait_minutes, text: (row) => minutes(row.longest_wait_minutes) },
      ],
      orientation: "horizontal",
      axis: { category: t("reports.axis_destination"), value: t("reports.axis_minutes") },
    });
    const empty = (rows, key) => (rows.length ? null : h("p", { class: "empty" }, t(key)));
    clear(
      el.charts,
      card("hours", t("reports.hours_title"), hourChart, t("reports.total", { n: total })),
      card("weekdays", t("reports.weekdays_title"), weekdayChart, t("reports.weekdays_hint")),
      card("destinations", t("reports.destinations_title"), places.length ? topChart : empty(places, "reports.no_passes"), t("reports.total", { n: destinations.total.passes })),
      card("destinations", t("reports.time_title"), ended.length ? timeChart : empty(ended, "reports.none_ended"), timeChart.querySelector("desc").textContent),
      card("destinations", t("reports.overtime_title"), ended.length ? overtimeChart : empty(ended, "reports.none_ended"), overtimeChart.querySelector("desc").textContent),
      card("waits", t("reports.waits_title"), waits.rows.length ? waitChart : empty(waits.rows, "reports.no_waits"), waits.rows.length ? waitChart.querySelector("desc").textContent : null),
    );
  }

  // --- the students with the most ---------------------------------------------------

  let by = "passes";

  async function loadStudents(button) {
    if (!data) return;
    await busy(button, async () => {
      try {
        students = await get(`/api/reports/students?${query(data.period, data.room, { by, limit: STUDENTS_LIMIT })}`);
      } catch (error) {
        students = { error: sentence(error, "staff") };
      }
      renderStudents();
      el.students.querySelector("table, .form-error, .empty")?.scrollIntoView({ block: "nearest" });
    });
  }

  function renderStudents() {
    if (!data) {
      clear(el.students);
      el.students.hidden = true;
      return;
    }
    el.students.hidden = false;
    const choice = h(
      "fieldset",
      { class: "row" },
      h("legend", { class: "visually-hidden" }, t("reports.students_by")),
      h(
        "div",
        { class: "segmented" },
        ["passes", "minutes"].map((value) => {
          const input = h("input", { type: "radio", name: id("by"), value, checked: by === value });
          input.addEventListener("change", () => {
            by = value;
            if (students) loadStudents(show);
          });
          return h("label", {}, input, h("span", {}, t(`reports.by_${value}`)));
        }),
      ),
    );
    const show = h("button", { type: "button", class: "btn btn-primary", id: id("students-show") }, t(students ? "reports.students_refresh" : "reports.students_show"));
    show.addEventListener("click", () => loadStudents(show));
    let body = null;
    if (students?.error) body = h("p", { class: "form-error", role: "alert" }, students.error);
    else if (students && !students.rows.length) body = h("p", { class: "empty" }, t("reports.no_passes"));
    else if (students) body = studentsTable(students);
    const csv = `/api/reports/students.csv?${query(data.period, data.room, { by, limit: STUDENTS_LIMIT })}`;
    clear(
      el.students,
      h("h2", { id: id("students-title") }, t("reports.students_title", { n: STUDENTS_LIMIT })),
      h("p", { class: "hint audit-note" }, t("reports.students_audited")),
      h("div", { class: "row" }, choice, show, h("a", { class: "btn btn-small", href: csv, download: "", dataset: { csv: "students" } }, t("reports.download_csv"), h("span", { class: "visually-hidden" }, ` (${t("reports.students_title", { n: STUDENTS_LIMIT })})`))),
      students?.students_from ? h("p", { class: "hint" }, t("reports.students_from", { day: dayText(students.students_from) })) : null,
      body,
    );
  }

  function studentsTable(answer) {
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: id("students-table") },
        h("caption", { class: "visually-hidden" }, t(`reports.by_${answer.by}`)),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col", class: "num" }, "#"),
            h("th", { scope: "col" }, t("board.col_student")),
            h("th", { scope: "col" }, t("users.col_number")),
            h("th", { scope: "col", class: "num" }, t("reports.passes")),
            h("th", { scope: "col", class: "num" }, t("reports.minutes_out")),
          ),
        ),
        h(
          "tbody",
          {},
          answer.rows.map((row, i) =>
            h(
              "tr",
              { dataset: { student: row.student.id } },
              h("td", { class: "num" }, String(i + 1)),
              h("td", { class: "student" }, row.student.name),
              h("td", { class: "num" }, row.number ?? ""),
              h("td", { class: "num" }, formatNumber(row.passes)),
              h("td", { class: "num" }, formatNumber(row.minutes_out, 1)),
            ),
          ),
        ),
      ),
    );
  }

  // --- exports (admins) ----------------------------------------------------------------

  let historyPicker = null;
  let recordPicker = null;

  function download(url) {
    const link = h("a", { href: url, download: "", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
  }

  /** The student a picker names: chosen from the list, or typed as a whole number. */
  async function pickedStudent(picker) {
    const value = picker.value();
    if (value?.student) return value.student;
    if (value?.student_number) {
      const found = await searchStudents(value.student_number);
      return found.find((user) => user.number === value.student_number)?.id ?? null;
    }
    return null;
  }

  function renderExports() {
    if (!data) {
      clear(el.exports);
      el.exports.hidden = true;
      return;
    }
    el.exports.hidden = false;
    // The pickers keep what was typed across re-renders of the words around them.
    historyPicker ??= studentPicker(id("export-student"), { labelKey: "exports.student_optional" });
    recordPicker ??= studentPicker(id("record-student"), { labelKey: "exports.record_student" });
    const historyStatus = h("p", { class: "form-error", role: "alert" });
    const recordStatus = h("p", { class: "form-error", role: "alert" });
    const historyButton = h("button", { type: "button", class: "btn btn-primary", id: id("export-passes") }, t("exports.passes_button"));
    historyButton.addEventListener("click", async () => {
      historyStatus.textContent = "";
      const typed = historyPicker.input.value.trim() !== "" || historyPicker.value() !== null;
      const student = await pickedStudent(historyPicker);
      if (typed && !student) {
        historyStatus.textContent = t("exports.pick_student");
        historyPicker.input.focus();
        return;
      }
      download(`/api/exports/passes.csv?${query(data.period, data.room, { student })}`);
    });
    const recordButton = (kind) => {
      const button = h("button", { type: "button", class: "btn", id: id(`record-${kind}`) }, t(`exports.record_${kind}`));
      button.addEventListener("click", async () => {
        recordStatus.textContent = "";
        const student = await pickedStudent(recordPicker);
        if (!student) {
          recordStatus.textContent = t("exports.pick_student");
          recordPicker.input.focus();
          return;
        }
        download(`/api/exports/students/${encodeURIComponent(student)}/record.${kind}`);
      });
      return button;
    };
    const days = { from: dayText(data.period.from), to: dayText(data.period.to) };
    const hint = data.room ? t("exports.passes_hint", { ...days, room: rooms.name(data.room) }) : t("exports.passes_hint_school", days);
    clear(
      el.exports,
      h("h2", { id: id("exports-title") }, t("exports.title")),
      h("p", { class: "hint audit-note" }, t("exports.audited")),
      h("h3", {}, t("exports.passes_title")),
      h("p", {}, hint),
      historyStatus,
      historyPicker.element,
      h("div", { class: "row" }, historyButton),
      h("h3", {}, t("exports.record_title")),
      h("p", {}, t("exports.record_hint")),
      recordStatus,
      recordPicker.element,
      h("div", { class: "row" }, recordButton("json"), recordButton("csv")),
      h("p", { class: "hint" }, h("a", { href: "/api/exports/dictionary" }, t("exports.dictionary"))),
    );
  }

  // --- words ------------------------------------------------------------------------

  fillSelects();
  document.addEventListener("hallpass:language", () => {
    for (const [element, key] of words) element.textContent = t(key);
    fillSelects();
    historyPicker = null; // made again with the new words (what was typed is dropped)
    recordPicker = null;
    renderAll();
  });

  return {
    show() {
      fillSelects();
      load();
    },
  };
}
