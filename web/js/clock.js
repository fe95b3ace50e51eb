// The server's clock, as best this device can tell. A Chromebook's clock may
// be minutes off; timers count from the server's times, so they count
// against the server's "now". Each API answer's Date header refines the
// offset (to the second, which is all a pass timer shows).

let offset = 0;
let known = false;

export function now() {
  return Date.now() + offset;
}

/** Learns from an answer that was sent between `sentAt` and `receivedAt` (device ms). */
export function observe(response, sentAt, receivedAt) {
  const header = response.headers.get("Date");
  if (!header) return;
  const server = Date.parse(header);
  if (Number.isNaN(server)) return;
  // The header is truncated to the second: its true value lies in [server, server + 1000).
  const estimate = server + 500 - (sentAt + receivedAt) / 2;
  // Only a round trip short enough to tell us something better than a second.
  if (receivedAt - sentAt > 2000) return;
  offset = known ? offset * 0.5 + estimate * 0.5 : estimate;
  // Within a second either way, trust the device: it ticks smoothly.
  if (Math.abs(offset) < 1000) offset = 0;
  known = true;
}
