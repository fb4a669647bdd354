// Small DOM and formatting helpers shared by the pages.

/** el("div.card", {attrs}, ...children): a tiny hyperscript; text children are text nodes, never HTML. */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const PRIORITY = { 1: "urgent", 2: "high", 3: "medium", 4: "low" };

/** ISA-18.2 alarm states in an operator's words. */
export const STATE_TEXT = { UNACK: "active, unacknowledged", ACKED: "active, acknowledged",
                            RTNUN: "returned to normal, unacknowledged", SHLVD: "shelved", DSUPR: "suppressed by design",
                            OOSRV: "out of service", NORM: "normal" };

/** Quality class from the OPC DA quality byte: good (0xC0), uncertain (0x40) or bad (0x00). */
export function qualityClass(q) {
  if (!q) return "bad";
  const cls = q.code & 0xc0;
  return cls === 0xc0 ? "good" : cls === 0x40 ? "uncertain" : "bad";
}

/** A short label for the marker ("sensor failure" from BAD_SENSOR_FAILURE); the source's own words go in a tooltip. */
export function qualityReason(q) {
  if (!q) return "no value yet";
  const short = (q.name || "").replace(/^(BAD|UNCERTAIN|GOOD)_?/, "").replace(/_/g, " ").toLowerCase();
  return short || (q.reason || "").replace(/^(bad|uncertain)(: )?/i, "") || q.name.toLowerCase();
}

/** Decimals that suit a tag's range: pH 2, conductivity 1, lithium 0. */
export function decimalsFor(range) {
  const span = range ? Math.abs(range.high - range.low) : 100;
  return span <= 20 ? 2 : span <= 200 ? 1 : 0;
}

/** A tag's value as operators read it: the tag's own decimals (from the API), on/off for discrete points. */
export function fmtTag(value, meta) {
  if (meta?.unit === "bool") return value === null || value === undefined ? "—" : value ? "on" : "off";
  return fmt(value, meta?.decimals ?? (meta?.unit === "count" ? 0 : decimalsFor(meta?.range)));
}

export function fmt(value, decimals = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return Number(value).toFixed(decimals);
}

const timeFmt = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                   hour12: false, timeZone: "UTC" });
const dateTimeFmt = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "2-digit", day: "2-digit",
                                                       hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                       hour12: false, timeZone: "UTC" });

export const fmtTime = (iso) => (iso ? `${timeFmt.format(new Date(iso))}` : "—");
export const fmtDateTime = (iso) => (iso ? `${dateTimeFmt.format(new Date(iso))} UTC` : "—");

/** The value of <input type="datetime-local"> read as UTC (the panel shows every time in UTC). */
export function utcInputToDate(v) {
  return v ? new Date(`${v}Z`) : null;
}
export function dateToUtcInput(d) {
  return d.toISOString().slice(0, 16);
}

export function debounce(fn, ms) {
  let t = 0;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

/** A status line for the result of an action: the API's refusal shown word for word. */
export function say(node, text, kind = "info") {
  node.textContent = text;
  node.dataset.kind = kind;
}
