// Bar charts as inline SVG: small enough to own, accessible, themed by the
// stylesheet (every colour is a CSS variable, so light and dark just work).
//
// A chart is a <figure>: the SVG (role="img", named by its <title> and
// summarised by its <desc>), a legend when it has several series, and a
// visually hidden table with every number for screen readers.
import { locale } from "./i18n.js";
import { h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const FONT = 13;

let serial = 0;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** "12", "1,204", "3.5": a number as the person's language writes it. */
export function formatNumber(value, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

/** Ticks from 0 to a round number at or above `max`: 0, 5, 10, 15, 20. */
export function ticks(max, { integer = false, count = 4 } = {}) {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough);
  if (integer) step = Math.max(1, Math.ceil(step));
  const top = Math.ceil(max / step) * step;
  const found = [];
  for (let v = 0; v <= top + step / 2; v += step) found.push(Number(v.toFixed(6)));
  return found;
}

/** A name too long for the chart's margin, shortened (the table keeps it whole). */
function shorten(text, chars) {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

/**
 * barChart({
 *   title, description,            // the SVG's <title> and <desc>
 *   rows,                          // the data, one bar (per series) each
 *   label: (row) => "Mon",         // each row's category
 *   series: [{ name, value: (row) => number|null, text?: (row) => "4.5 min" }],
 *   orientation: "vertical" | "horizontal",
 *   axis: { category, value },     // the axis titles
 *   integer,                       // whole numbers only on the value axis
 *   valueTicks: (v) => "50%",      // how the value axis writes its ticks
 *   showZero,                      // label bars of 0 too (vertical charts hide them)
 * }) -> <figure class="chart">
 */
export function barChart(options) {
  const id = `chart-${++serial}`;
  const { title, description, rows, series } = options;
  const values = rows.flatMap((row) => series.map((one) => one.value(row) ?? 0));
  const scale = ticks(Math.max(0, ...values), { integer: options.integer });
  const draw = options.orientation === "horizontal" ? horizontal : vertical;
  const svg = draw({ ...options, scale });
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  svg.setAttribute("aria-describedby", `${id}-desc`);
  svg.setAttribute("class", `chart-svg chart-${options.orientation}`);
  svg.prepend(s("title", { id: `${id}-title` }, title), s("desc", { id: `${id}-desc` }, description));
  const legend =
    series.length > 1
      ? h(
          "ul",
          { class: "chart-legend", "aria-hidden": "true" },
          series.map((one, i) => h("li", {}, h("span", { class: `chart-swatch s${i}` }), one.name)),
        )
      : null;
  return h("figure", { class: "chart", id }, svg, legend, dataTable(options));
}

function textOf(one, row) {
  const value = one.value(row);
  if (one.text) return one.text(row);
  return value === null || value === undefined ? "—" : formatNumber(value, 1);
}

/** Every number of the chart, for screen readers (and the tests). */
function dataTable({ title, rows, label, series, axis }) {
  return h(
    "table",
    { class: "visually-hidden chart-data" },
    h("caption", {}, title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, axis.category), series.map((one) => h("th", { scope: "col" }, one.name)))),
    h(
      "tbody",
      {},
      rows.map((row) => h("tr", {}, h("th", { scope: "row" }, label(row)), series.map((one) => h("td", {}, textOf(one, row))))),
    ),
  );
}

function axisTicks(scale, valueTicks) {
  return scale.map((v) => (valueTicks ? valueTicks(v) : formatNumber(v, 2)));
}

function vertical({ rows, label, series, scale, axis, valueTicks, showZero, tickLabel }) {
  const left = 56;
  const right = 8;
  const top = 22;
  const plot = 180;
  const bottom = 46;
  const height = top + plot + bottom;
  const top_ = scale.at(-1);
  const y = (v) => top + plot - (plot * v) / top_;
  const band = (WIDTH - left - right) / Math.max(1, rows.length);
  const gap = Math.min(6, band * 0.25);
  const barWidth = (band - gap) / series.length;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, focusable: "false" });
  const grid = s("g", { class: "chart-gridlines" });
  const labels = axisTicks(scale, valueTicks);
  scale.forEach((v, i) => {
    grid.append(
      s("line", { x1: left, x2: WIDTH - right, y1: y(v), y2: y(v) }),
      s("text", { class: "chart-tick", x: left - 6, y: y(v) + FONT / 3, "text-anchor": "end" }, labels[i]),
    );
  });
  svg.append(grid);
  const bars = s("g", { class: "chart-bars" });
  rows.forEach((row, i) => {
    const x0 = left + i * band + gap / 2;
    series.forEach((one, k) => {
      const value = one.value(row) ?? 0;
      const x = x0 + k * barWidth;
      bars.append(
        s("rect", {
          class: `chart-bar s${k}`,
          x,
          y: y(value),
          width: Math.max(1, barWidth),
          height: Math.max(0, top + plot - y(value)),
          rx: 2,
          "data-label": label(row),
          "data-value": value,
        }),
      );
      if (value !== 0 || showZero) {
        bars.append(s("text", { class: "chart-value", x: x + barWidth / 2, y: y(value) - 5, "text-anchor": "middle" }, textOf(one, row)));
      }
    });
    bars.append(
      s("text", { class: "chart-label", x: left + i * band + band / 2, y: top + plot + 16, "text-anchor": "middle" }, (tickLabel ?? label)(row)),
    );
  });
  svg.append(
    bars,
    s("line", { class: "chart-axis", x1: left, x2: WIDTH - right, y1: top + plot, y2: top + plot }),
    s("text", { class: "chart-axis-title", x: left + (WIDTH - left - right) / 2, y: height - 6, "text-anchor": "middle" }, axis.category),
    s("text", { class: "chart-axis-title", x: 0, y: 0, transform: `translate(14 ${top + plot / 2}) rotate(-90)`, "text-anchor": "middle" }, axis.value),
  );
  return svg;
}

function horizontal({ rows, label, series, scale, axis, valueTicks }) {
  const left = 150;
  const right = 96;
  const top = 8;
  const barHeight = series.length > 1 ? 13 : 18;
  const band = barHeight * series.length + 12;
  const plot = Math.max(1, rows.length) * band;
  const bottom = 44;
  const height = top + plot + bottom;
  const top_ = scale.at(-1);
  const width = WIDTH - left - right;
  const x = (v) => left + (width * v) / top_;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, focusable: "false" });
  const grid = s("g", { class: "chart-gridlines" });
  const labels = axisTicks(scale, valueTicks);
  scale.forEach((v, i) => {
    grid.append(
      s("line", { x1: x(v), x2: x(v), y1: top, y2: top + plot }),
      s("text", { class: "chart-tick", x: x(v), y: top + plot + 16, "text-anchor": "middle" }, labels[i]),
    );
  });
  svg.append(grid);
  const bars = s("g", { class: "chart-bars" });
  rows.forEach((row, i) => {
    const y0 = top + i * band + 6;
    const name = label(row);
    bars.append(
      s("text", { class: "chart-label", x: left - 8, y: y0 + (barHeight * series.length) / 2 + FONT / 3, "text-anchor": "end" }, shorten(name, 20)),
    );
    series.forEach((one, k) => {
      const value = one.value(row);
      const y = y0 + k * barHeight;
      bars.append(
        s("rect", {
          class: `chart-bar s${k}`,
          x: left,
          y,
          width: Math.max(0, x(value ?? 0) - left),
          height: barHeight - 2,
          rx: 2,
          "data-label": name,
          "data-value": value ?? "",
        }),
        s("text", { class: "chart-value", x: x(value ?? 0) + 5, y: y + barHeight / 2 + FONT / 3 - 1 }, textOf(one, row)),
      );
    });
  });
  svg.append(
    bars,
    s("line", { class: "chart-axis", x1: left, x2: left, y1: top, y2: top + plot }),
    s("text", { class: "chart-axis-title", x: left + width / 2, y: height - 6, "text-anchor": "middle" }, axis.value),
  );
  return svg;
}
