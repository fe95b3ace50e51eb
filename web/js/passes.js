// What pages say about a pass: its timing, its state, its route.
import { ms } from "./format.js";
import { t } from "./i18n.js";
import { h, icon } from "./ui.js";

export const LIVE = new Set(["pending", "waiting", "active"]);

/** Seconds out, seconds left (negative once over), and the cues derived from them. */
export function timing(pass, nowMs) {
  const started = ms(pass.started_at);
  if (started === null || Number.isNaN(started)) {
    return { elapsed: 0, left: pass.minutes * 60, over: false, soon: false, fraction: 0 };
  }
  const end = ms(pass.ended_at) ?? nowMs;
  const elapsed = Math.max(0, (end - started) / 1000);
  const left = pass.minutes * 60 - elapsed;
  const over = pass.overtime || left < 0;
  return {
    elapsed,
    left,
    over,
    soon: !over && left <= 60,
    fraction: Math.min(1, elapsed / Math.max(1, pass.minutes * 60)),
  };
}

export function stateBadge(pass, { over = false } = {}) {
  if (pass.state === "active" && over) {
    return h("span", { class: "badge badge-over" }, icon("alert"), t("state.overtime"));
  }
  const kind = {
    active: "badge-active",
    pending: "badge-pending",
    waiting: "badge-waiting",
    scheduled: "badge-scheduled",
    denied: "badge-over",
  }[pass.state];
  return h("span", { class: `badge ${kind ?? ""}` }, t(`state.${pass.state}`));
}

/** "Room 101 → Restroom", with the arrow hidden from screen readers ("to" is read). */
export function route(rooms, pass, className = "") {
  return h(
    "span",
    { class: className },
    h("span", { class: "from" }, rooms.name(pass.origin)),
    " ",
    h("span", { class: "visually-hidden" }, t("pass.to_word")),
    icon("arrow"),
    " ",
    h("span", { class: "to" }, rooms.name(pass.destination)),
  );
}

/** The time a pass counts for on a calendar: when it started, else when it is planned. */
export function whenOf(pass) {
  return pass.started_at ?? pass.start_at ?? pass.created_at;
}
