// The live connection: one WebSocket to /ws per page. It keeps a store of the
// live passes and requests this person may see, reconnects by itself with
// `after` (so it receives exactly what it missed, or a fresh snapshot), and
// marks the page stale while it is not connected.
import { get } from "./api.js";
import { formatTime } from "./format.js";
import { t } from "./i18n.js";

const LIVE_PASS = new Set(["scheduled", "pending", "waiting", "active"]);
const PING_EVERY = 15000; // ms; the server also sends a heartbeat every 20 s
const SILENCE_LIMIT = 45000; // ms without a word from the server: the socket is dead
const SESSION_ENDED = 4401; // the hub's close code: sign in again
const MAX_BACKOFF = 15000;

export class Live extends EventTarget {
  constructor() {
    super();
    this.passes = new Map();
    this.requests = new Map();
    this.position = null;
    this.state = "connecting";
    this.synced = false; // a snapshot has arrived at least once
    this.socket = null;
    this.failures = 0;
    this.staleSince = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.stopped = false;
  }

  start() {
    this.connect();
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.checkAlive();
    });
    this.pingTimer = setInterval(() => this.checkAlive(), PING_EVERY);
    return this;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const after = this.position === null ? "" : `?after=${encodeURIComponent(this.position)}`;
    return `${scheme}//${location.host}/ws${after}`;
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.failures = 0;
      this.lastHeard = Date.now();
      this.setState("live");
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.apply(message);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      if (!opened) this.failures++;
      this.setState("offline");
      // The session ended, or a handshake is refused again and again (which may
      // mean the same): asking who we are sends the page to sign-in on a 401.
      if (event.code === SESSION_ENDED || this.failures === 2 || (this.failures > 0 && this.failures % 10 === 0)) {
        get("/api/me").catch(() => {});
      }
      this.scheduleRetry();
    });
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    const base = Math.min(500 * 2 ** Math.min(this.failures, 6), MAX_BACKOFF);
    const wait = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  /** The network is known to be gone: stop trusting the socket now. */
  drop() {
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
    this.setState("offline");
    this.scheduleRetry();
  }

  reconnectNow() {
    if (this.socket && this.state === "live") return;
    this.failures = 0;
    this.connect();
  }

  /**
   * A silently dead connection (a pulled cable, a sleeping tablet) sends no
   * close: ask the server for a pong, and give up on a socket that has said
   * nothing (no change, heartbeat or pong) for too long.
   */
  checkAlive() {
    const socket = this.socket;
    if (!socket || this.state !== "live") return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT) {
      this.drop();
      return;
    }
    try {
      socket.send(JSON.stringify({ type: "ping" }));
    } catch {
      this.drop();
    }
  }

  setState(state) {
    if (state === this.state) return;
    if (state !== "live" && this.staleSince === null) this.staleSince = Date.now();
    if (state === "live") this.staleSince = null;
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state } }));
  }

  apply(message) {
    if (message.position !== undefined) this.position = message.position;
    if (message.type === "snapshot") {
      this.passes.clear();
      this.requests.clear();
      for (const p of message.passes ?? []) this.passes.set(p.id, p);
      for (const r of message.requests ?? []) this.requests.set(r.id, r);
      this.synced = true;
      this.emit({ kind: "snapshot" });
    } else if (message.type === "pass" && message.pass) {
      const item = message.pass;
      const before = this.passes.get(item.id) ?? null;
      if (LIVE_PASS.has(item.state)) this.passes.set(item.id, item);
      else this.passes.delete(item.id);
      this.emit({ kind: "pass", item, before });
    } else if (message.type === "request" && message.request) {
      const item = message.request;
      const before = this.requests.get(item.id) ?? null;
      if (item.state === "open") this.requests.set(item.id, item);
      else this.requests.delete(item.id);
      this.emit({ kind: "request", item, before });
    }
  }

  emit(detail) {
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }
}

/**
 * Shows the connection discreetly in `statusEl` and, while it is down, a note
 * that what is on screen may be out of date, with the page dimmed.
 */
export function showStatus(live, statusEl, noteEl) {
  const render = () => {
    const state = live.state;
    statusEl.dataset.state = state;
    statusEl.textContent = t(`live.${state}`);
    const stale = state !== "live";
    document.body.classList.toggle("is-stale", stale);
    if (noteEl) {
      noteEl.hidden = !(stale && live.staleSince !== null && live.synced);
      if (!noteEl.hidden) {
        noteEl.textContent = t("live.stale_note", { time: formatTime(live.staleSince) });
      }
    }
  };
  live.addEventListener("status", render);
  document.addEventListener("hallpass:language", render);
  render();
}
