// Times and durations, in the school's timezone and the person's language.
import { locale, t } from "./i18n.js";

let zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    zone = tz;
  } catch {
    // an unknown zone: keep the device's
  }
}

export function timeZone() {
  return zone;
}

function fmt(options) {
  return new Intl.DateTimeFormat(locale(), { timeZone: zone, ...options });
}

export function ms(value) {
  if (value === null || value === undefined) return null;
  return typeof value === "number" ? value : Date.parse(value);
}

export function formatTime(value) {
  return fmt({ hour: "numeric", minute: "2-digit" }).format(ms(value));
}

export function formatDay(value) {
  return fmt({ weekday: "long", month: "long", day: "numeric" }).format(ms(value));
}

export function formatShortDay(value) {
  return fmt({ weekday: "short", month: "short", day: "numeric" }).format(ms(value));
}

export function formatDayTime(value) {
  return fmt({ weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" }).format(ms(value));
}

/** "4:05" for 245 seconds; "1:02:03" past an hour. Negative values count as 0. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** "12 min", "1 h 5 min": a duration a person reads at a glance. */
export function minutesText(minutes) {
  const total = Math.round(minutes);
  if (total < 60) return t("unit.min", { n: total });
  const h = Math.floor(total / 60);
  const m = total % 60;
  return m ? t("unit.h_min", { h, m }) : t("unit.h", { n: h });
}

/** The wall-clock parts of an instant in the school's zone. */
export function zonedParts(value) {
  const parts = {};
  for (const p of new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    weekday: "short",
  }).formatToParts(ms(value))) {
    parts[p.type] = p.value;
  }
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: parts.weekday.toLowerCase(),
  };
}

/** "2025-03-14": the school day an instant falls on. */
export function dayKey(value) {
  const p = zonedParts(value);
  return `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

/** "09:30": the school's wall-clock time of an instant, as an <input type=time> wants. */
export function timeKey(value) {
  const p = zonedParts(value);
  return `${String(p.hour).padStart(2, "0")}:${String(p.minute).padStart(2, "0")}`;
}

/**
 * The instant (ms) at which the school's clocks read `day` ("2025-03-14") and
 * `time` ("09:30"). Two passes settle daylight-saving edges.
 */
export function zonedToInstant(day, time = "00:00") {
  const [y, mo, d] = day.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const wanted = Date.UTC(y, mo - 1, d, h, mi);
  let guess = wanted;
  for (let i = 0; i < 2; i++) {
    const p = zonedParts(guess);
    const seen = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
    guess += wanted - seen;
  }
  return guess;
}

/** The day key `n` days after `day`. */
export function addDays(day, n) {
  const [y, mo, d] = day.split("-").map(Number);
  const next = new Date(Date.UTC(y, mo - 1, d + n));
  return next.toISOString().slice(0, 10);
}

/** Monday of the week holding `day`. */
export function weekStart(day) {
  const [y, mo, d] = day.split("-").map(Number);
  const weekday = new Date(Date.UTC(y, mo - 1, d)).getUTCDay(); // 0 = Sunday
  return addDays(day, -((weekday + 6) % 7));
}

/** A day key shown to a person, e.g. "Friday, March 14". */
export function formatDayKey(day) {
  return formatDay(zonedToInstant(day, "12:00"));
}
