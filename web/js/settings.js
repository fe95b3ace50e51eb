// The settings view every role has: language and appearance; a student's
// favorite rooms; a teacher's PIN.
import { sentence } from "./api.js";
import { saveSettings } from "./app.js";
import { t } from "./i18n.js";
import { busy, clear, h, toast } from "./ui.js";

export function renderSettings(container, { me, rooms, onSaved }) {
  let user = me;

  const save = async (changes, status) => {
    status.textContent = t("settings.saving");
    status.className = "hint";
    try {
      user = await saveSettings(changes);
      Object.assign(me, user);
      status.textContent = t("settings.saved");
      status.className = "form-ok";
      onSaved?.(user);
    } catch (error) {
      status.textContent = sentence(error);
      status.className = "form-error";
    }
  };

  const radios = (name, legendKey, options, value, onChange) => {
    const status = h("p", { class: "hint", role: "status" });
    const group = h(
      "fieldset",
      {},
      h("legend", {}, t(legendKey)),
      h(
        "div",
        { class: "choices" },
        options.map(([optionValue, labelKey]) =>
          h(
            "label",
            { class: "check" },
            h("input", {
              type: "radio",
              name,
              value: optionValue,
              checked: optionValue === value,
              onchange: () => onChange(optionValue, status),
            }),
            t(labelKey),
          ),
        ),
      ),
      status,
    );
    return group;
  };

  const render = () => {
    const settings = user.settings ?? {};
    const display = h(
      "div",
      { class: "card" },
      h("h2", {}, t("settings.display")),
      radios(
        "language",
        "settings.language",
        [
          ["en", "settings.english"],
          ["es", "settings.spanish"],
        ],
        settings.language ?? "en",
        (language, status) => save({ language }, status),
      ),
      radios(
        "appearance",
        "settings.appearance",
        [
          ["light", "settings.light"],
          ["dark", "settings.dark"],
          ["system", "settings.system"],
        ],
        settings.appearance ?? "system",
        (appearance, status) => save({ appearance }, status),
      ),
    );
    const cards = [display];
    if (user.role === "student") cards.push(favoritesCard(settings.favorites ?? []));
    if (user.role === "teacher" || user.role === "admin") cards.push(pinCard());
    clear(container, cards);
  };

  const favoritesCard = (favorites) => {
    const status = h("p", { class: "hint", role: "status" });
    const chosen = new Set(favorites);
    const boxes = rooms.enabled().map((room) =>
      h(
        "label",
        { class: "check" },
        h("input", {
          type: "checkbox",
          value: room.id,
          checked: chosen.has(room.id),
          onchange: (event) => {
            if (event.target.checked) chosen.add(room.id);
            else chosen.delete(room.id);
            // Keep the order they were first chosen in: favorites list first in that order.
            const ordered = [...favorites.filter((id) => chosen.has(id)), ...[...chosen].filter((id) => !favorites.includes(id))];
            save({ favorites: ordered }, status);
          },
        }),
        room.name,
      ),
    );
    return h(
      "div",
      { class: "card" },
      h("h2", {}, t("settings.favorites")),
      h("fieldset", {}, h("legend", { class: "hint" }, t("settings.favorites_hint")), h("div", { class: "fav-list" }, boxes)),
      status,
    );
  };

  const pinCard = () => {
    const status = h("p", { class: "hint", role: "status" });
    const input = h("input", {
      id: "pin",
      type: "password",
      inputmode: "numeric",
      autocomplete: "new-password",
      pattern: "[0-9]{4,6}",
      maxlength: "6",
      "aria-describedby": "pin-hint",
    });
    const button = h("button", { type: "submit", class: "btn btn-primary" }, t("settings.pin_save"));
    const form = h(
      "form",
      {
        class: "card",
        onsubmit: (event) => {
          event.preventDefault();
          const pin = input.value.trim();
          if (!/^[0-9]{4,6}$/.test(pin)) {
            status.textContent = t("settings.pin_invalid");
            status.className = "form-error";
            input.focus();
            return;
          }
          busy(button, async () => {
            try {
              await saveSettings({ pin });
              input.value = "";
              status.textContent = t("settings.pin_saved");
              status.className = "form-ok";
              toast(t("settings.pin_saved"));
            } catch (error) {
              status.textContent = error.code === "duplicate" || error.status === 409 ? t("settings.pin_taken") : sentence(error, "staff");
              status.className = "form-error";
            }
          });
        },
      },
      h("h2", {}, t("settings.pin")),
      h("p", { class: "hint", id: "pin-hint" }, t("settings.pin_hint")),
      h("div", { class: "field" }, h("label", { for: "pin" }, t("settings.pin_label")), input),
      status,
      button,
    );
    return form;
  };

  render();
  document.addEventListener("hallpass:language", render);
}
