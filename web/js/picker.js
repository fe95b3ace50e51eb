// Finding a student by name or number (an ARIA combobox). Names come from
// the directory search (GET /api/users?role=student&q=); a number typed in
// full works even where that search is not available.
import { ApiError, get } from "./api.js";
import { t } from "./i18n.js";
import { clear, h } from "./ui.js";

let searchAvailable = true;

export async function searchStudents(query) {
  if (!searchAvailable) return [];
  try {
    const found = await get(`/api/users?role=student&active=true&q=${encodeURIComponent(query)}&limit=8`);
    return Array.isArray(found) ? found : (found?.users ?? []);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) searchAvailable = false;
    return [];
  }
}

/**
 * A student field: `value()` is {student, name} once a student is chosen
 * from the list, {student_number} when only digits were typed, else null.
 */
export function studentPicker(id, { labelKey = "picker.label" } = {}) {
  let chosen = null;
  let results = [];
  let active = -1;
  let timer = null;
  let run = 0;

  const listId = `${id}-list`;
  const input = h("input", {
    id,
    type: "text",
    role: "combobox",
    autocomplete: "off",
    spellcheck: "false",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": listId,
    "aria-describedby": `${id}-hint`,
  });
  const list = h("ul", { id: listId, role: "listbox", class: "picker-results", hidden: true, "aria-label": t(labelKey) });
  const hint = h("p", { class: "hint", id: `${id}-hint` }, t("picker.hint"));
  const chosenBox = h("div", { class: "chosen", hidden: true });
  const field = h("div", { class: "field picker" }, h("label", { for: id }, t(labelKey)), input, list, chosenBox, hint);

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };

  const showResults = () => {
    clear(
      list,
      results.map((user, i) =>
        h(
          "li",
          {
            id: `${id}-opt-${i}`,
            role: "option",
            "aria-selected": i === active ? "true" : "false",
            onmousedown: (e) => e.preventDefault(),
            onclick: () => choose(user),
          },
          user.name,
          user.number ? h("span", { class: "muted" }, ` · ${user.number}`) : null,
        ),
      ),
    );
    list.hidden = results.length === 0;
    input.setAttribute("aria-expanded", results.length ? "true" : "false");
    if (active >= 0) input.setAttribute("aria-activedescendant", `${id}-opt-${active}`);
    else input.removeAttribute("aria-activedescendant");
  };

  const choose = (user) => {
    chosen = user;
    close();
    input.hidden = true;
    hint.hidden = true;
    clear(
      chosenBox,
      h("span", { class: "grow" }, user.name, user.number ? h("span", { class: "muted" }, ` · ${user.number}`) : null),
      h("button", { type: "button", class: "btn btn-small", onclick: reset }, t("picker.change")),
    );
    chosenBox.hidden = false;
    chosenBox.querySelector("button").focus();
  };

  const reset = () => {
    chosen = null;
    input.value = "";
    input.hidden = false;
    hint.hidden = false;
    chosenBox.hidden = true;
    input.focus();
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const query = input.value.trim();
    if (query.length < 2) {
      results = [];
      close();
      return;
    }
    timer = setTimeout(async () => {
      const mine = ++run;
      const found = await searchStudents(query);
      if (mine !== run) return;
      results = found;
      active = -1;
      showResults();
    }, 200);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && results.length) {
      active = (active + 1) % results.length;
      showResults();
      event.preventDefault();
    } else if (event.key === "ArrowUp" && results.length) {
      active = (active - 1 + results.length) % results.length;
      showResults();
      event.preventDefault();
    } else if (event.key === "Enter" && active >= 0 && !list.hidden) {
      choose(results[active]);
      event.preventDefault();
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));

  return {
    element: field,
    input,
    value() {
      if (chosen) return { student: chosen.id, name: chosen.name };
      const typed = input.value.trim();
      if (/^\d{1,32}$/.test(typed)) return { student_number: typed };
      return null;
    },
    reset() {
      reset();
      input.blur();
    },
  };
}
