// The audit log (admins): who exported what, who viewed students' names,
// who changed a room or the policies; newest first, a page at a time.
import { get, sentence } from "./api.js";
import { formatDayTime } from "./format.js";
import { has, t } from "./i18n.js";
import { busy, clear, h } from "./ui.js";

const PAGE = 50;
// API.md's actions ("export.passes", ...), each with its words: "audit.action_export_passes".
const actionKey = (action) => `audit.action_${action.replace(/\W/g, "_")}`;

/** Fills `container` with the audit log; returns {show()}, to call when the view opens. */
export function setUpAudit(container, { rooms }) {
  let entries = [];
  let next = null;
  let error = "";
  let run = 0;
  const people = new Map(); // student id -> name, for subjects that are students

  const rows = h("tbody", { id: "audit-rows" });
  const note = h("p", { class: "hint", role: "status", id: "audit-note" });
  const more = h("button", { type: "button", class: "btn", id: "audit-more" });
  const failure = h("p", { class: "form-error", role: "alert" });
  const heads = ["audit.col_when", "audit.col_who", "audit.col_what", "audit.col_subject", "audit.col_detail"];
  const headRow = h("tr");
  clear(
    container,
    h("p", { class: "muted", id: "audit-intro" }),
    h("div", { class: "card" }, failure, note, h("div", { class: "table-wrap" }, h("table", { class: "audit" }, h("thead", {}, headRow), rows)), more),
  );

  more.addEventListener("click", () => busy(more, () => loadPage(next)));

  async function loadPage(before) {
    const mine = ++run;
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (before) params.set("before", before);
    try {
      const page = await get(`/api/audit?${params}`);
      if (mine !== run) return;
      await learnNames(page.entries);
      entries = before ? [...entries, ...page.entries] : page.entries;
      next = page.next;
      error = "";
    } catch (failed) {
      if (mine !== run) return;
      error = sentence(failed, "staff");
    }
    render();
  }

  async function learnNames(found) {
    const ids = [...new Set(found.map((e) => e.subject))].filter((s) => s !== "school" && !rooms.get(s) && !people.has(s) && /^[\w-]+$/.test(s));
    if (!ids.length) return;
    try {
      const users = await get(`/api/users?ids=${encodeURIComponent(ids.slice(0, 100).join(","))}`);
      for (const user of Array.isArray(users) ? users : []) people.set(user.id, user.name);
    } catch {
      // the ids stay shown as they are
    }
  }

  function subject(entry) {
    if (entry.subject === "school") return t("reports.whole_school");
    return rooms.get(entry.subject)?.name ?? people.get(entry.subject) ?? entry.subject;
  }

  function render() {
    container.querySelector("#audit-intro").textContent = t("audit.intro");
    clear(headRow, heads.map((key) => h("th", { scope: "col" }, t(key))));
    failure.textContent = error;
    note.textContent = entries.length ? t("audit.shown", { n: entries.length }) : error ? "" : t("audit.none");
    more.textContent = t("audit.more");
    more.hidden = !next;
    clear(
      rows,
      entries.map((entry) =>
        h(
          "tr",
          { dataset: { action: entry.action } },
          h("td", {}, h("time", { datetime: entry.at }, formatDayTime(entry.at))),
          h("td", {}, entry.actor.name),
          h("td", {}, has(actionKey(entry.action)) ? t(actionKey(entry.action)) : entry.action),
          h("td", {}, subject(entry)),
          h("td", { class: "audit-detail" }, entry.detail),
        ),
      ),
    );
  }

  document.addEventListener("hallpass:language", render);
  render();

  return {
    show() {
      loadPage(null);
    },
  };
}
