// Small DOM helpers: build elements, show a toast, speak to screen readers,
// keep a list in place while its items change.
import { t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";

/** h("button", {class: "btn", onclick: f}, "Text", child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && typeof value !== "string" && name !== "list") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Feather-style line icons (MIT), drawn here so no request fetches them.
const ICONS = {
  lock: ["rect:3,11,18,11,2", "path:M7 11V7a5 5 0 0 1 10 0v4"],
  clock: ["circle:12,12,10", "path:M12 6v6l4 2"],
  arrow: ["path:M5 12h14", "path:M12 5l7 7-7 7"],
  star: ["path:M12 2l3.1 6.3 6.9 1-5 4.9 1.2 6.8L12 17.8 5.8 21l1.2-6.8-5-4.9 6.9-1z"],
  bell: ["path:M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9", "path:M13.7 21a2 2 0 0 1-3.4 0"],
  alert: ["circle:12,12,10", "path:M12 8v4", "path:M12 16h.01"],
  check: ["path:M20 6L9 17l-5-5"],
  pass: ["rect:4,3,16,18,3", "path:M8 8h8", "path:M8 12h8", "path:M8 16h5"],
  line: ["path:M8 6h13", "path:M8 12h13", "path:M8 18h13", "path:M3 6h.01", "path:M3 12h.01", "path:M3 18h.01"],
  pause: ["rect:6,4,4,16,1", "rect:14,4,4,16,1"],
  play: ["path:M6 4l14 8-14 8z"],
  wifi: ["path:M5 12.5a10 10 0 0 1 14 0", "path:M8.5 16a5 5 0 0 1 7 0", "path:M12 19.5h.01"],
  expand: ["path:M8 3H5a2 2 0 0 0-2 2v3", "path:M21 8V5a2 2 0 0 0-2-2h-3", "path:M3 16v3a2 2 0 0 0 2 2h3", "path:M16 21h3a2 2 0 0 0 2-2v-3"],
};

export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const spec of ICONS[name] ?? []) {
    const [kind, data] = spec.split(":");
    const shape = document.createElementNS(SVG, kind);
    if (kind === "path") shape.setAttribute("d", data);
    if (kind === "circle") {
      const [cx, cy, r] = data.split(",");
      Object.entries({ cx, cy, r }).forEach(([k, v]) => shape.setAttribute(k, v));
    }
    if (kind === "rect") {
      const [x, y, width, height, rx] = data.split(",");
      Object.entries({ x, y, width, height, rx }).forEach(([k, v]) => shape.setAttribute(k, v));
    }
    svg.append(shape);
  }
  return svg;
}

/** Fills every `[data-icon]` placeholder of the static HTML. */
export function drawIcons(root = document) {
  for (const el of root.querySelectorAll("[data-icon]")) {
    if (!el.firstChild) el.append(icon(el.dataset.icon));
  }
}

let announcer = null;

/** Says `text` to screen readers without moving focus. */
export function announce(text, { assertive = false } = {}) {
  if (!announcer) {
    announcer = h("div", { class: "visually-hidden", "aria-live": "polite", "aria-atomic": "true" });
    document.body.append(announcer);
  }
  announcer.setAttribute("aria-live", assertive ? "assertive" : "polite");
  announcer.textContent = "";
  // A fresh text node is what makes screen readers speak the same words twice.
  setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

/** A short message at the corner of the screen. */
export function toast(text, { error = false, ms = 5000 } = {}) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h("div", { class: error ? "toast is-error" : "toast" }, text);
  box.append(item);
  setTimeout(() => item.remove(), ms);
}

/**
 * Runs `action` with `button` disabled and marked busy, so a double click
 * never sends twice. Resolves to the action's value; errors propagate.
 */
export async function busy(button, action) {
  if (!button) return action();
  if (button.dataset.busy === "1") return undefined;
  button.dataset.busy = "1";
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    delete button.dataset.busy;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/**
 * Brings `container`'s children in line with `items`, reusing the node of an
 * item whose signature has not changed, so focus and reading position stay
 * put while the rest of the list updates live.
 */
export function patchList(container, items, { key, signature, render }) {
  for (const node of [...container.children]) if (!node.dataset.key) node.remove();
  const existing = new Map();
  for (const node of container.children) {
    if (node.dataset.key) existing.set(node.dataset.key, node);
  }
  const focusedKey = document.activeElement?.closest?.("[data-key]")?.dataset.key ?? null;
  const focusName = document.activeElement?.dataset?.focus ?? null;
  const wanted = [];
  for (const item of items) {
    const k = String(key(item));
    const sig = signature(item);
    let node = existing.get(k);
    if (!node || node.dataset.sig !== sig) {
      const fresh = render(item);
      fresh.dataset.key = k;
      fresh.dataset.sig = sig;
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    existing.delete(k);
    wanted.push(node);
  }
  for (const node of existing.values()) node.remove();
  wanted.forEach((node, i) => {
    if (container.children[i] !== node) container.insertBefore(node, container.children[i] ?? null);
  });
  // A row re-rendered under the keyboard user's focus gives the focus back.
  if (focusedKey && focusName && !container.contains(document.activeElement)) {
    const row = [...container.children].find((n) => n.dataset.key === focusedKey);
    row?.querySelector(`[data-focus="${focusName}"]`)?.focus();
  }
}

/** A modal dialog; resolves with the value of the button that closed it, or null. */
export function openDialog({ title, body, actions, onOpen }) {
  return new Promise((resolve) => {
    const heading = h("h2", { id: `dlg-${Math.random().toString(36).slice(2)}` }, title);
    const form = h("form", { method: "dialog" }, body, h("div", { class: "row end" }, actions));
    const dialog = h("dialog", { "aria-labelledby": heading.id }, heading, form);
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue || null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    onOpen?.(dialog);
  });
}

export function cancelButton() {
  return h("button", { class: "btn", value: "", type: "submit", formnovalidate: true }, t("action.cancel"));
}
