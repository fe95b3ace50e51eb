// One heartbeat for every live timer on the page, on the second.
import { now } from "./clock.js";

const listeners = new Set();
let timer = null;

function beat() {
  const at = now();
  for (const listener of listeners) listener(at);
  // Wake just after the next whole second so all timers turn together.
  timer = setTimeout(beat, 1000 - (at % 1000) + 15);
}

/** Calls `listener(nowMs)` now and every second; returns a function that stops it. */
export function everySecond(listener) {
  listeners.add(listener);
  listener(now());
  if (timer === null) timer = setTimeout(beat, 1000 - (now() % 1000) + 15);
  return () => listeners.delete(listener);
}
