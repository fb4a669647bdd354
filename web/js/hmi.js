// ISA-101 display parts shared by the overview, the process graphic and the faceplates: the moving-pointer
// analog indicator, the sparkline with its permit band, and the level-3 faceplate dialog with a trend.

import { api, qs } from "./api.js";
import { el, fmt, fmtTag, fmtTime, qualityClass, qualityReason } from "./util.js";

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element with attributes (numbers rounded to 0.1 px). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, typeof v === "number" ? String(Math.round(v * 10) / 10) : String(v));
  }
  for (const c of children.flat()) if (c) node.append(c);
  return node;
}

/** The normal band: inside the nearest alarm limits (H/L, else HH/LL), else the permit band, else none. */
export function normalBand(ind) {
  const pick = (types) => ind.limits.filter((l) => types.includes(l.type)).map((l) => l.limit);
  const highs = pick(["H"]).length ? pick(["H"]) : pick(["HH"]);
  const lows = pick(["L"]).length ? pick(["L"]) : pick(["LL"]);
  const hi = highs.length ? Math.min(...highs) : ind.permit_high ?? null;
  const lo = lows.length ? Math.max(...lows) : ind.permit_low ?? null;
  return { lo, hi };
}

/** Which alarm limit the value is beyond, worst first (HH/LL before H/L); null inside them all. */
export function beyondLimit(ind, value) {
  if (value === null || value === undefined) return null;
  const order = { HH: 0, LL: 0, H: 1, L: 1 };
  const hits = ind.limits.filter((l) => (l.type.startsWith("H") ? value >= l.limit : value <= l.limit));
  hits.sort((a, b) => order[a.type] - order[b.type]);
  return hits[0] || null;
}

const W = 260;
const H = 46;
const PAD = 8;

/** Moving-pointer indicator: a fixed scale (range), the normal band in light grey, alarm limit ticks, a setpoint
 *  triangle and the pointer; colour only when the value is beyond a limit (the limit's priority colour). */
export function indicator(ind) {
  const x = (v) => PAD + ((v - ind.low) / (ind.high - ind.low || 1)) * (W - 2 * PAD);
  const clamp = (v) => Math.min(ind.high, Math.max(ind.low, v));
  const band = normalBand(ind);
  const parts = [svg("rect", { class: "scale", x: PAD, y: 14, width: W - 2 * PAD, height: 12 })];
  if (band.lo !== null || band.hi !== null) {
    const lo = x(clamp(band.lo ?? ind.low));
    const hi = x(clamp(band.hi ?? ind.high));
    parts.push(svg("rect", { class: "normal-band", x: lo, y: 14, width: Math.max(0, hi - lo), height: 12 }));
  }
  for (const l of ind.limits) {
    const lx = x(clamp(l.limit));
    parts.push(svg("line", { class: `limit p${l.priority}`, x1: lx, x2: lx, y1: 10, y2: 30 },
      svg("title", { text: `${l.alarm} ${l.type} ${fmt(l.limit, ind.decimals)} ${ind.unit}` })));
  }
  if (ind.setpoint !== null && ind.setpoint !== undefined) {
    const sx = x(clamp(ind.setpoint));
    parts.push(svg("path", { class: "sp", d: `M${sx - 5} 40 L${sx + 5} 40 L${sx} 31 Z` },
      svg("title", { text: `setpoint ${fmt(ind.setpoint, ind.decimals)} ${ind.unit}` })));
  }
  parts.push(svg("path", { class: "pointer", d: "M0 0 L6 -10 L-6 -10 Z", transform: `translate(${x(ind.low)} 13)` }));
  parts.push(svg("text", { class: "scale-end", x: PAD, y: 9, text: fmt(ind.low, 0) }),
    svg("text", { class: "scale-end", x: W - PAD, y: 9, "text-anchor": "end", text: fmt(ind.high, 0) }));
  const node = svg("svg", { class: "indicator", viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": `${ind.tag} analog indicator` }, parts);
  node.move = (v) => {
    const ptr = node.querySelector(".pointer");
    ptr.style.visibility = v === null || v === undefined ? "hidden" : "visible";
    if (v !== null && v !== undefined) ptr.setAttribute("transform", `translate(${x(clamp(v))} 13)`);
  };
  return node;
}

/** A 2-hour sparkline: the permit band (or normal band) shaded, the line grey; gaps where no Good sample. */
export function sparkline(ind, series, width = W, height = 44) {
  const t = series?.t || [];
  const v = series?.v || [];
  const end = t.length ? Math.max(t[t.length - 1] + 60, Date.now() / 1000) : Date.now() / 1000;
  const start = end - 7200;
  const x = (s) => ((s - start) / 7200) * width;
  const y = (val) => height - 2 - ((Math.min(ind.high, Math.max(ind.low, val)) - ind.low) / (ind.high - ind.low || 1)) * (height - 4);
  const parts = [svg("rect", { class: "spark-bg", x: 0, y: 0, width, height })];
  const lo = ind.permit_low ?? normalBand(ind).lo;
  const hi = ind.permit_high ?? normalBand(ind).hi;
  if (lo !== null || hi !== null) {
    const top = y(hi ?? ind.high);
    parts.push(svg("rect", { class: ind.permit_low !== null ? "permit-band" : "normal-band", x: 0, y: top, width,
                             height: Math.max(0, y(lo ?? ind.low) - top) }));
  }
  let d = "";
  let pen = false;
  for (let i = 0; i < t.length; i += 1) {
    if (v[i] === null) { pen = false; continue; }
    d += `${pen ? "L" : "M"}${x(t[i]).toFixed(1)} ${y(v[i]).toFixed(1)}`;
    pen = true;
  }
  parts.push(svg("path", { class: "spark-line", d }));
  return svg("svg", { class: "sparkline", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img",
                      "aria-label": `${ind.tag} last 2 hours${lo !== null ? `, band ${fmt(lo, ind.decimals)}–${fmt(hi, ind.decimals)}` : ""}` }, parts);
}

/** Level 3: a tag's faceplate in a modal dialog — value, quality, limits, indicator, 2-hour trend, links. */
export function openFaceplate(ctx, tag, ind = null) {
  const meta = ctx.tags.get(tag) || { name: tag, unit: "", range: { low: 0, high: 100 }, decimals: 2 };
  const info = ind || { tag, description: meta.description || "", unit: meta.unit, decimals: meta.decimals ?? 2,
                        low: meta.range.low, high: meta.range.high, limits: [], permit_low: null, permit_high: null,
                        setpoint: null, loop: null };
  const value = el("span.value", { "data-testid": "faceplate-value", text: "—" });
  const quality = el("div.quality");
  const gauge = indicator(info);
  const trend = el("div.faceplate-trend", { "data-testid": "faceplate-trend" }, el("p.note", { text: "loading the last 2 hours…" }));
  const alarms = el("ul.faceplate-alarms");
  const dlg = el("dialog.faceplate-dialog", { "aria-labelledby": "faceplate-title", "data-testid": "faceplate" },
    el("header", {}, el("h2", { id: "faceplate-title", text: `${tag}` }),
      el("button.quiet.close", { type: "button", "aria-label": "Close faceplate", text: "✕", onclick: () => dlg.close() })),
    el("p.desc", { text: info.description }),
    el("div.reading", {}, value, " ", el("span.unit", { text: info.unit })), quality, gauge,
    info.limits.length ? el("p.note", { text: `Alarm limits: ${info.limits.map((l) => `${l.type} ${fmt(l.limit, info.decimals)}`).join(" · ")}` }) : "",
    info.setpoint !== null && info.setpoint !== undefined ? el("p.note", { text: `Setpoint ${fmt(info.setpoint, info.decimals)} ${info.unit} (${info.loop})` }) : "",
    alarms, trend,
    el("div.buttons", {},
      el("a.button", { href: `#/trends?tags=${encodeURIComponent(tag)}&range=8h`, text: "Full trend", onclick: () => dlg.close() }),
      info.loop ? el("a.button", { href: "#/loops", text: `${info.loop} faceplate`, onclick: () => dlg.close() }) : "",
      el("button", { type: "button", text: "Close", onclick: () => dlg.close() })));
  const paint = () => {
    const s = ctx.live.get(tag);
    if (!s) return;
    const q = qualityClass(s.quality);
    dlg.dataset.quality = q;
    value.textContent = fmtTag(s.value, meta);
    gauge.move(q === "bad" ? null : s.value);
    quality.replaceChildren(q === "good" ? "" : el("span.qmark", { text: q === "bad" ? "BAD" : "UNC" }),
      q === "good" ? `good at ${fmtTime(s.ts)} UTC` : ` ${qualityReason(s.quality)}`);
  };
  const paintAlarms = (w) => {
    const list = w.forTag(tag);
    alarms.replaceChildren(...list.map((a) => el("li", { "data-alarm": `p${a.priority}` },
      el("span.alarm-marker", { text: `${a.priority}` }), ` ${a.name} ${a.state}`)));
  };
  paint();
  paintAlarms(ctx.alarms);
  const unLive = ctx.live.subscribe((batch) => { if (batch.has(tag)) paint(); });
  const unAlarms = ctx.alarms.subscribe(paintAlarms);
  dlg.addEventListener("close", () => { unLive(); unAlarms(); dlg.remove(); });
  document.body.append(dlg);
  dlg.showModal();
  const end = new Date();
  const start = new Date(end.getTime() - 7200 * 1000);
  api.get(`/api/v1/trends${qs({ tag, start: start.toISOString(), end: end.toISOString(), points: 240 })}`)
    .then((out) => {
      const s = out.series[0];
      const series = { t: s.buckets.map((b) => Date.parse(b.ts) / 1000), v: s.buckets.map((b) => b.avg) };
      trend.replaceChildren(sparkline(info, series, 460, 140),
        el("p.note", { text: `last 2 h, ${s.buckets.length} buckets of ${fmt(s.bucket_s, 0)} s (${s.source})` }));
      trend.dataset.points = String(s.buckets.length);
    })
    .catch((exc) => trend.replaceChildren(el("p.error", { role: "alert", text: exc.message })));
  return dlg;
}
