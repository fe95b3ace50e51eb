// The one way pages talk to the server. Reads are plain GETs; every command
// carries an Idempotency-Key made once and reused on each retry, so a retry
// after a dropped connection never makes a second pass.
import { observe } from "./clock.js";
import { has, t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0: the server could not be reached
    this.code = code;
    this.serverMessage = message;
  }
}

/** A random key; crypto.randomUUID exists only on https or localhost. */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function send(method, path, { body, key, timeout = 15000 } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  const sentAt = Date.now();
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  } finally {
    clearTimeout(timer);
  }
  observe(response, sentAt, Date.now());
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    const failure = new ApiError(response.status, error.code ?? `http_${response.status}`, error.message ?? "");
    if (response.status === 401 && path !== "/api/session") {
      window.dispatchEvent(new CustomEvent("hallpass:unauthenticated"));
    }
    throw failure;
  }
  return data;
}

/** Whether a failure is worth trying again with the same key. */
export function retryable(error) {
  return error instanceof ApiError && (error.status === 0 || error.status >= 502);
}

export function get(path) {
  return send("GET", path);
}

/**
 * A command (POST, PUT, PATCH, DELETE). Network failures and 5xx answers are
 * retried `attempts` times with the SAME Idempotency-Key: the server answers a
 * retry with the first outcome instead of acting twice.
 */
export async function command(method, path, body, { attempts = 4, key = newKey(), onRetry } = {}) {
  let wait = 600;
  for (let attempt = 1; ; attempt++) {
    try {
      return await send(method, path, { body, key });
    } catch (error) {
      if (!retryable(error) || attempt >= attempts) throw error;
      onRetry?.(attempt);
      await sleep(wait);
      wait = Math.min(wait * 2, 5000);
    }
  }
}

export const post = (path, body, options) => command("POST", path, body ?? {}, options);
export const put = (path, body, options) => command("PUT", path, body, options);
export const patch = (path, body, options) => command("PATCH", path, body, options);
export const del = (path, options) => command("DELETE", path, undefined, options);

// Details the server's English sentence carries that a translated one should keep.
function details(error) {
  const text = error.serverMessage ?? "";
  const numbers = text.match(/\d+/g) ?? [];
  const times = text.match(/\b\d{1,2}:\d{2}\b/g) ?? [];
  return { numbers, times, week: /week/i.test(text) };
}

/**
 * A kind, translated sentence for a failure. `audience` is "self" when the
 * person is the student concerned and "staff" when acting for a student.
 */
export function sentence(error, audience = "self") {
  if (!(error instanceof ApiError)) return t("err.unexpected");
  const code = error.code;
  if (code === "network") return t("err.network");
  if (error.status === 503 || error.status === 502 || error.status === 504) return t("err.busy");
  const d = details(error);
  if (code === "cooldown" && d.numbers.length && audience === "self") {
    return t("err.cooldown_n", { n: Number(d.numbers[0]) });
  }
  if (code === "blackout" && d.times.length >= 2) {
    return t("err.blackout_times", { from: d.times[0], to: d.times[1] });
  }
  if (code === "pass_limit" && d.numbers.length && audience === "self") {
    return t(d.week ? "err.pass_limit_week" : "err.pass_limit_day", { n: Number(d.numbers[0]) });
  }
  if (code === "invalid") {
    return error.serverMessage ? t("err.invalid_detail", { detail: error.serverMessage }) : t("err.invalid");
  }
  const specific = `err.${code}.${audience}`;
  if (has(specific)) return t(specific);
  if (has(`err.${code}`)) return t(`err.${code}`);
  return error.serverMessage || t("err.unexpected");
}
