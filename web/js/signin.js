// The sign-in page: school, username, password; then the page for the role.
import { ApiError, get, post, sentence } from "./api.js";
import { HOME_OF_ROLE } from "./app.js";
import { setLanguage, t, translate } from "./i18n.js";
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

  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("signin-error");
    error.textContent = "";
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

function translateMissing(field) {
  return t("form.required", { field: document.querySelector(`label[for="${field}"]`).textContent });
}

main();
