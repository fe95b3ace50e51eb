// The school's rooms, as GET /api/rooms lists them, with the lookups pages need.
import { get } from "./api.js";
import { t } from "./i18n.js";

export class Rooms {
  constructor(list = []) {
    this.set(list);
  }

  set(list) {
    this.list = [...list].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    this.byId = new Map(this.list.map((room) => [room.id, room]));
  }

  async load() {
    this.set(await get("/api/rooms"));
    return this;
  }

  get(id) {
    return this.byId.get(id) ?? null;
  }

  name(id) {
    return this.byId.get(id)?.name ?? t("room.unknown");
  }

  enabled() {
    return this.list.filter((room) => room.enabled);
  }

  /** Enabled rooms, favorites first (in the order chosen), then by name. */
  ordered(favorites = []) {
    const rank = new Map(favorites.map((id, i) => [id, i]));
    return this.enabled().sort((a, b) => {
      const ra = rank.has(a.id) ? rank.get(a.id) : Infinity;
      const rb = rank.has(b.id) ? rank.get(b.id) : Infinity;
      if (ra !== rb) return ra - rb;
      return a.name.localeCompare(b.name, undefined, { numeric: true });
    });
  }
}

/**
 * How full a destination is now: from the live passes this page can see (a
 * teacher's, which are current to the second), or else from the counts the
 * server gives each room (`out`, `waiting`: as of the last GET /api/rooms)
 * for a page that cannot see every pass (a student's).
 */
export function load(room, passes) {
  let out = typeof room.out === "number" ? room.out : null;
  let waiting = typeof room.waiting === "number" ? room.waiting : null;
  if (passes) {
    out = 0;
    waiting = 0;
    for (const p of passes) {
      if (p.destination !== room.id) continue;
      if (p.state === "active") out++;
      if (p.state === "waiting") waiting++;
    }
  }
  const full = room.capacity !== null && out !== null && out >= room.capacity;
  return { out, waiting, full };
}
