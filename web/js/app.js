// What every signed-in page does first: find out who is here, apply their
// language and appearance, fill the header, route between views, go live.
import { ApiError, del, get, patch } from "./api.js";
import { setTimeZone } from "./format.js";
import { language, setLanguage, t, translate } from "./i18n.js";
import { Live, showStatus } from "./live.js";
import { Rooms } from "./rooms.js";
import { drawIcons, toast } from "./ui.js";

export const HOME_OF_ROLE = {
  student: "/student",
  teacher: "/teacher",
  admin: "/admin",
  kiosk: "/kiosk",
};

export function signInUrl() {
  const next = location.pathname + location.hash;
  return `/?next=${encodeURIComponent(next)}`;
}

export function setAppearance(appearance) {
  const root = document.documentElement;
  if (appearance === "light" || appearance === "dark") root.dataset.appearance = appearance;
  else delete root.dataset.appearance;
  try {
    localStorage.setItem("hallpass.appearance", appearance);
  } catch {
    // not remembered on this device; the server keeps it
  }
}

export function applySettings(settings) {
  if (!settings) return;
  setAppearance(settings.appearance ?? "system");
  const before = language();
  setLanguage(settings.language ?? "en");
  // Pages redraw their words only when the language did change.
  if (language() !== before) document.dispatchEvent(new CustomEvent("hallpass:language"));
}

/** Saves some of the person's settings and applies what the server kept. */
export async function saveSettings(changes) {
  const user = await patch("/api/me/settings", changes);
  applySettings(user.settings);
  return user;
}

/**
 * The school (GET /api/school: slug, name, timezone, paused), whose timezone
 * every time on the page is shown in, as the school's clocks read it.
 */
async function loadSchool() {
  try {
    const school = await get("/api/school");
    if (school?.timezone) setTimeZone(school.timezone);
    return school;
  } catch {
    return null; // the device's zone stands in until the next page load
  }
}

export async function boot({ roles, onView } = {}) {
  let me;
  try {
    me = await get("/api/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      location.replace(signInUrl());
      return new Promise(() => {});
    }
    document.body.classList.add("is-stale");
    throw error;
  }
  if (roles && !roles.includes(me.role)) {
    location.replace(HOME_OF_ROLE[me.role] ?? "/");
    return new Promise(() => {});
  }
  window.addEventListener("hallpass:unauthenticated", () => location.replace(signInUrl()));

  applySettings(me.settings);
  const school = await loadSchool();
  translate(document);
  drawIcons();

  const who = document.getElementById("who");
  if (who) who.textContent = me.name;
  document.getElementById("sign-out")?.addEventListener("click", async () => {
    try {
      await del("/api/session", { attempts: 2 });
    } catch {
      // signed out locally either way
    }
    location.replace("/");
  });

  const rooms = await new Rooms().load();
  const live = new Live();
  const status = document.getElementById("live-status");
  if (status) showStatus(live, status, document.getElementById("stale-note"));
  setUpViews(onView);
  return { me, rooms, live, school };
}

/** Views are <section data-view="name"> switched by the URL's #name. */
function setUpViews(onView) {
  const views = [...document.querySelectorAll("[data-view]")];
  if (!views.length) return;
  const names = views.map((v) => v.dataset.view);
  let first = true;
  const show = () => {
    const wanted = location.hash.slice(1);
    const name = names.includes(wanted) ? wanted : aliasOf(wanted, views) ?? names[0];
    for (const view of views) view.hidden = view.dataset.view !== name;
    for (const link of document.querySelectorAll(".tabs a")) {
      const target = link.getAttribute("href").slice(1);
      if (target === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const view = views.find((v) => v.dataset.view === name);
    const heading = view.querySelector("h1");
    if (heading) document.title = `${heading.textContent} · Hallpass`;
    // Moving focus to the new heading tells a screen reader the view changed.
    if (!first && heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: false });
    }
    first = false;
    onView?.(name, wanted);
  };
  window.addEventListener("hashchange", show);
  document.addEventListener("hallpass:language", () => {
    const heading = views.find((v) => !v.hidden)?.querySelector("h1");
    if (heading) document.title = `${heading.textContent} · Hallpass`;
  });
  // After the page's own start-up code (which runs once boot returns) is done.
  setTimeout(show, 0);
}

// "#schedule" shows the view that declares data-aliases="schedule".
function aliasOf(wanted, views) {
  const view = views.find((v) => (v.dataset.aliases ?? "").split(" ").includes(wanted));
  return view ? view.dataset.view : null;
}

export function failSoftly(error) {
  console.error(error);
  toast(t("err.unexpected"), { error: true });
}
