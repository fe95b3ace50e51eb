// The sign-in page: school, username, password; then the page for the role.
// A school that signs people in with its own accounts (single sign-on) gets
// a link that starts it; one that takes no passwords hides the password form
// (kiosks, which keep their passwords, can still open it).
import { ApiError, get, post, sentence } from "./api.js";
import { HOME_OF_ROLE } from "./app.js";
import { has, setLanguage, t, translate } from "./i18n.js";
import { busy, drawIcons } from "./ui.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

function destination(user) {
  const home = HOME_OF_ROLE[user.role] ?? "/";
  const next = params.get("next");
  // Only a path of this site, and only the page of this role.
  if (next && next.startsWith(home) && !next.startsWith("//")) return next;
  return home;
}

function remembered(name) {
  try {
    return localStorage.getItem(`hallpass.${name}`) ?? "";
  } catch {
    return "";
  }
}

function remember(name, value) {
  try {
    localStorage.setItem(`hallpass.${name}`, value);
  } catch {
    // a shared device may block storage; typing the school again is fine
  }
}

async function main() {
  translate(document);
  drawIcons();
  $("lang-en").addEventListener("click", () => setLanguage("en"));
  $("lang-es").addEventListener("click", () => setLanguage("es"));

  // Already signed in: straight on.
  try {
    const me = await get("/api/me");
    location.replace(destination(me));
    return;
  } catch {
    // not signed in: the form it is
  }

  $("school").value = params.get("school") ?? remembered("school");
  (($("school").value && $("username")) || $("school")).focus();
  showSsoError(params.get("sso_error"));
  setUpSso();

  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("signin-error");
    error.textContent = "";
    delete error.dataset.i18n;
    const body = {
      school: $("school").value.trim(),
      username: $("username").value.trim(),
      password: $("password").value,
    };
    const missing = ["school", "username", "password"].find((k) => !body[k]);
    if (missing) {
      error.textContent = translateMissing(missing);
      $(missing).focus();
      return;
    }
    await busy($("signin-submit"), async () => {
      try {
        const answer = await post("/api/session", body, { attempts: 2 });
        remember("school", body.school);
        const settings = answer.user.settings ?? {};
        if (settings.language) setLanguage(settings.language);
        if (settings.appearance) remember("appearance", settings.appearance);
        location.replace(destination(answer.user));
      } catch (failure) {
        error.textContent = sentence(failure);
        $("password").value = "";
        (failure instanceof ApiError && failure.code === "bad_credentials" ? $("password") : $("username")).focus();
      }
    });
  });
}

/** The sentence for a refused single sign-on (`/?sso_error=CODE`). */
function showSsoError(code) {
  if (!code) return;
  const key = /^sso_[a-z_]+$/.test(code) && has(`err.${code}`) ? `err.${code}` : "err.sso_denied";
  const error = $("signin-error");
  error.dataset.i18n = key; // stays right when the language changes
  error.textContent = t(key);
}

let ssoRun = 0;

/** What the typed school offers: its single sign-on, its password form. */
async function checkSso() {
  const run = ++ssoRun;
  const school = $("school").value.trim();
  let status = { enabled: false, password_signin: true };
  if (school) {
    try {
      status = await get(`/api/sso/${encodeURIComponent(school)}/status`);
    } catch {
      // unknown: offer the password form, as for a school without single sign-on
    }
  }
  if (run !== ssoRun) return;
  $("sso").hidden = !status.enabled;
  $("sso-start").href = `/api/sso/${encodeURIComponent(school)}/start`;
  const or = $("sso-or");
  or.dataset.i18n = status.password_signin ? "signin.or" : "signin.sso_only";
  or.textContent = t(or.dataset.i18n);
  const form = $("password-signin");
  const hide = status.enabled && !status.password_signin && !form.dataset.opened;
  const hadFocus = form.contains(document.activeElement);
  form.hidden = hide;
  $("show-password").hidden = !hide;
  if (hide && hadFocus) $("sso-start").focus();
}

function setUpSso() {
  let timer = null;
  $("school").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(checkSso, 300);
  });
  $("sso-start").addEventListener("click", () => remember("school", $("school").value.trim()));
  // A kiosk keeps its password where people sign in with the school's accounts.
  $("show-password").addEventListener("click", () => {
    $("password-signin").dataset.opened = "1";
    $("password-signin").hidden = false;
    $("show-password").hidden = true;
    $("username").focus();
  });
  checkSso();
}

function translateMissing(field) {
  return t("form.required", { field: document.querySelector(`label[for="${field}"]`).textContent });
}

main();
