// Every word on screen comes from here, in English or Spanish.
import en from "./lang/en.js";
import es from "./lang/es.js";

const DICTIONARIES = { en, es };
export const LANGUAGES = ["en", "es"];

let current = pickInitial();

function pickInitial() {
  const lang = document.documentElement.lang;
  return LANGUAGES.includes(lang) ? lang : "en";
}

export function language() {
  return current;
}

/** The locale for Intl formatting: the school's language, in the person's region. */
export function locale() {
  return current === "es" ? "es-US" : "en-US";
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) lang = "en";
  current = lang;
  document.documentElement.lang = lang;
  try {
    localStorage.setItem("hallpass.language", lang);
  } catch {
    // not remembered: the server's settings still apply at the next sign-in
  }
  translate(document);
}

/**
 * The sentence for `key`, with {name} placeholders filled from `vars`.
 * A value that is an object is a plural: {one, other} chosen by vars.n.
 */
export function t(key, vars = {}) {
  let value = DICTIONARIES[current][key];
  if (value === undefined) value = en[key];
  if (value === undefined) return key;
  if (typeof value === "object") {
    const rule = new Intl.PluralRules(locale()).select(vars.n ?? 0);
    value = value[rule] ?? value.other;
  }
  return value.replace(/\{(\w+)\}/g, (match, name) =>
    vars[name] === undefined ? match : String(vars[name]),
  );
}

export function has(key) {
  return key in en;
}

/**
 * Fills the static words of a page: `data-i18n="key"` sets the text,
 * `data-i18n-attr="aria-label:key; placeholder:key"` sets attributes.
 */
export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  if (root === document) {
    const title = document.querySelector("title[data-i18n]");
    if (title) document.title = t(title.dataset.i18n);
  }
}
