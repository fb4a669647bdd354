// Trends: several pens on uPlot, each with its unit and own axis; presets, custom range, zoom, pan, live tail,
// min/max envelope when a bucket holds many samples, CSV export through the API.

import uPlot from "/vendor/uplot/uPlot.esm.js";
import { api, qs } from "../api.js";
import { dateToUtcInput, el, say, utcInputToDate } from "../util.js";

const PRESETS = { "10m": 600, "1h": 3600, "8h": 8 * 3600, "24h": 86400, "7d": 7 * 86400 };
const PRESET_TEXT = { "10m": "10 min", "1h": "1 h", "8h": "8 h", "24h": "24 h", "7d": "7 d" };
// Muted, distinguishable pens; no red, orange or yellow (those mean alarms).
const PENS = ["#1f4e79", "#2a7f62", "#7a5230", "#6b4c9a", "#5f6b2e", "#2b8a9e", "#8a4f7d", "#44546a"];
const DEFAULT_TAGS = ["AIT-101", "AIT-100", "FIT-100"];
const MAX_PENS = 8;
const LIVE_MIN_MS = 2000;

const pad = (n) => String(n).padStart(2, "0");

/** Time-axis labels in UTC, 24 h, day/month when the span covers days (operators read shift logs that way). */
function timeLabels(u, splits) {
  const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
  return splits.map((t) => {
    const d = new Date(t * 1000);
    const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    if (span > 2 * 86400) return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)} ${hm}`;
    return span < 900 ? `${hm}:${pad(d.getUTCSeconds())}` : hm;
  });
}

const hexA = (hex, a) => `${hex}${Math.round(a * 255).toString(16).padStart(2, "0")}`;

export function mount(root, ctx, params) {
  const numeric = [...ctx.tags.values()].filter((t) => t.unit !== "bool");
  const state = {
    tags: (params.get("tags") || DEFAULT_TAGS.join(",")).split(",").filter((t) => ctx.tags.has(t)).slice(0, MAX_PENS),
    preset: params.get("range") || (params.get("from") ? "" : "1h"),
    end: params.get("to") ? new Date(params.get("to")) : new Date(),
    start: null,
    live: params.get("live") !== "0" && !params.get("to"),
  };
  state.start = params.get("from") ? new Date(params.get("from")) : new Date(state.end - (PRESETS[state.preset] || 3600) * 1000);

  const status = el("p.status", { role: "status", "aria-live": "polite" });
  const info = el("p.note", { "data-testid": "trend-info" });
  const chartBox = el("div.chart", { role: "img", "aria-label": "Trend chart", tabindex: "0" });
  const legend = el("ul.pens", { "aria-label": "Pens" });
  const csv = el("a.button.quiet", { download: "trend.csv", text: "Export CSV" });
  const fromInput = el("input", { type: "datetime-local", name: "from" });
  const toInput = el("input", { type: "datetime-local", name: "to" });
  const liveBox = el("input", { type: "checkbox", name: "live" });
  const picker = el("fieldset.picker", {}, el("legend", { text: `Pens (up to ${MAX_PENS})` }),
    numeric.map((t) => el("label", { title: t.description },
      el("input", { type: "checkbox", value: t.name, checked: state.tags.includes(t.name),
        onchange: (ev) => {
          const on = ev.target.checked;
          if (on && state.tags.length >= MAX_PENS) { ev.target.checked = false; say(status, `At most ${MAX_PENS} pens.`, "error"); return; }
          state.tags = on ? [...state.tags, t.name] : state.tags.filter((x) => x !== t.name);
          rebuild();
        } }), ` ${t.name}`)));
  const presetButtons = Object.keys(PRESETS).map((k) => el("button.preset", { type: "button", "data-range": k, text: PRESET_TEXT[k],
    "aria-pressed": "false", onclick: () => { state.preset = k; state.live = true; state.end = new Date(); state.start = new Date(state.end - PRESETS[k] * 1000); load(); } }));
  const pan = (f) => {
    const span = state.end - state.start;
    state.start = new Date(+state.start + f * span);
    state.end = new Date(+state.end + f * span);
    if (state.end > Date.now()) { state.end = new Date(); state.start = new Date(state.end - span); }
    state.live = false;
    state.preset = "";
    load();
  };
  const zoomOut = () => {
    const span = state.end - state.start;
    state.start = new Date(+state.start - span / 2);
    state.end = new Date(Math.min(Date.now(), +state.end + span / 2));
    state.preset = "";
    load();
  };

  root.append(
    el("h1", { text: "Trends" }),
    el("div.trend-controls", {},
      el("div.group", { role: "group", "aria-label": "Time range" }, presetButtons),
      el("form.custom", { "aria-label": "Custom range", onsubmit: (ev) => {
        ev.preventDefault();
        const a = utcInputToDate(fromInput.value);
        const b = utcInputToDate(toInput.value) || new Date();
        if (!a || !(a < b)) { say(status, "The custom range needs a start before its end.", "error"); return; }
        state.start = a; state.end = b; state.preset = ""; state.live = false; load();
      } }, el("label", {}, "From (UTC) ", fromInput), el("label", {}, "To (UTC) ", toInput), el("button", { type: "submit", text: "Apply" })),
      el("div.group", { role: "group", "aria-label": "Pan and zoom" },
        el("button.quiet", { type: "button", text: "◀ Earlier", "aria-label": "Pan earlier", onclick: () => pan(-0.5) }),
        el("button.quiet", { type: "button", text: "Later ▶", "aria-label": "Pan later", onclick: () => pan(0.5) }),
        el("button.quiet", { type: "button", text: "Zoom out", onclick: zoomOut })),
      el("label.live", {}, liveBox, " Live tail"),
      csv),
    el("p.note", { text: "Drag across the chart to zoom in (or focus it and use ← → + −); double-click reloads the range. Band: min–max of each bucket." }),
    status, chartBox, legend, info, picker,
  );

  let plot = null;
  let timer = 0;
  let loading = 0;
  const since = performance.now();

  const zoomIn = () => {
    const span = state.end - state.start;
    state.start = new Date(+state.start + span / 4);
    state.end = new Date(+state.end - span / 4);
    state.preset = "";
    state.live = false;
    load();
  };
  // Keyboard: with the chart focused, ← → pan a quarter span, + − zoom.
  chartBox.addEventListener("keydown", (ev) => {
    const act = { ArrowLeft: () => pan(-0.25), ArrowRight: () => pan(0.25), "+": zoomIn, "=": zoomIn, "-": zoomOut }[ev.key];
    if (act) { ev.preventDefault(); act(); }
  });
  chartBox.setAttribute("aria-label", "Trend chart; with focus, arrow keys pan and + − zoom");

  liveBox.addEventListener("change", () => { state.live = liveBox.checked; if (state.live) { const span = state.end - state.start; state.end = new Date(); state.start = new Date(state.end - span); load(); } else clearTimeout(timer); });

  function syncControls() {
    for (const b of presetButtons) b.setAttribute("aria-pressed", String(b.dataset.range === state.preset));
    fromInput.value = dateToUtcInput(state.start);
    toInput.value = state.live ? "" : dateToUtcInput(state.end);
    liveBox.checked = state.live;
    const q = { tag: state.tags.join(","), start: state.start.toISOString(), end: state.end.toISOString(), points: points() };
    csv.href = `/api/v1/trends/csv${qs(q)}`;
    const h = new URLSearchParams({ tags: state.tags.join(",") });
    if (state.preset) h.set("range", state.preset);
    else { h.set("from", state.start.toISOString()); if (!state.live) h.set("to", state.end.toISOString()); }
    if (!state.live) h.set("live", "0");
    history.replaceState(null, "", `#/trends?${h}`);
  }

  const points = () => Math.max(100, Math.min(2000, Math.round((chartBox.clientWidth || 1000) * 1.0)));

  function buildPlot(series) {
    plot?.destroy();
    plot = null;
    legend.replaceChildren();
    const opts = {
      width: chartBox.clientWidth || 1000,
      height: 420,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: true, live: true },
      scales: { x: { time: true } },
      series: [{ label: "UTC" }],
      axes: [{ stroke: "#333", grid: { stroke: "#0000000f" }, ticks: { stroke: "#00000022" }, values: timeLabels }],
      bands: [],
      hooks: {
        setSelect: [(u) => {
          // A drag across the plot: fetch finer buckets for the selected span (the API decides the resolution).
          if (u.select.width < 3) return;
          const min = u.posToVal(u.select.left, "x");
          const max = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          state.start = new Date(min * 1000);
          state.end = new Date(max * 1000);
          state.preset = "";
          state.live = false;
          load();
        }],
        draw: [() => {
          root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
        }],
      },
    };
    series.forEach((s, i) => {
      const pen = PENS[i % PENS.length];
      const unit = s.unit;
      opts.scales[s.tag] = { auto: true };
      const base = opts.series.length;
      opts.series.push(
        { label: `${s.tag} (${unit})`, scale: s.tag, stroke: pen, width: 1.5, spanGaps: false, points: { show: false },
          value: (u, v) => (v == null ? "—" : `${v.toFixed(2)} ${unit}`) },
        { label: `${s.tag} min`, scale: s.tag, stroke: "transparent", width: 0, points: { show: false }, show: true },
        { label: `${s.tag} max`, scale: s.tag, stroke: "transparent", width: 0, points: { show: false }, show: true },
      );
      opts.bands.push({ series: [base + 2, base + 1], fill: hexA(pen, 0.16) });
      opts.axes.push({ scale: s.tag, label: `${s.tag} (${unit})`, stroke: pen, side: i % 2 ? 1 : 3, size: 56,
        grid: { show: false }, ticks: { stroke: `${pen}66` } });
      const item = el("li", {}, el("span.swatch", { "aria-hidden": "true" }), `${s.tag} — ${ctx.tags.get(s.tag)?.description || ""} (${unit})`);
      item.style.setProperty("--pen", pen);  // through the CSSOM: the CSP allows no style attribute
      legend.append(item);
    });
    plot = new uPlot(opts, [[]], chartBox);
    // uPlot's own legend lists min/max helper series too: hide those rows.
    plot.root.querySelectorAll(".u-legend .u-series").forEach((row, i) => { if (i > 0 && (i - 1) % 3 !== 0) row.style.display = "none"; });
    plot.root.addEventListener("dblclick", () => { state.preset = ""; load(); });
  }

  function toData(series) {
    const xsSet = new Set();
    for (const s of series) for (const b of s.buckets) xsSet.add(Date.parse(b.ts) / 1000);
    const xs = [...xsSet].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const data = [xs];
    for (const s of series) {
      const avg = new Array(xs.length).fill(null);
      const min = new Array(xs.length).fill(null);
      const max = new Array(xs.length).fill(null);
      const envelope = s.bucket_s > (ctx.tags.get(s.tag)?.scan_period_s || 1) * 1.5;
      for (const b of s.buckets) {
        const i = index.get(Date.parse(b.ts) / 1000);
        avg[i] = b.avg;
        min[i] = envelope ? b.min : null;
        max[i] = envelope ? b.max : null;
      }
      data.push(avg, min, max);
    }
    return data;
  }

  let builtFor = "";
  async function load() {
    clearTimeout(timer);
    if (state.live) {
      const span = state.end - state.start;
      state.end = new Date();
      state.start = new Date(state.end - span);
    }
    syncControls();
    if (!state.tags.length) {
      plot?.destroy(); plot = null; say(status, "Choose at least one pen below."); return;
    }
    const my = ++loading;
    const t0 = performance.now();
    let out;
    try {
      out = await api.get(`/api/v1/trends${qs({ tag: state.tags.join(","), start: state.start.toISOString(), end: state.end.toISOString(), points: points() })}`);
    } catch (exc) {
      if (my === loading) { loading = 0; say(status, exc.message, "error"); }
      if (state.live) timer = setTimeout(load, 5000);
      return;
    }
    if (my !== loading) return; // a newer request superseded this one
    const t1 = performance.now();
    const key = state.tags.join(",");
    if (builtFor !== key || !plot) { buildPlot(out.series); builtFor = key; }
    plot.setData(toData(out.series), false);
    plot.setScale("x", { min: state.start / 1000, max: state.end / 1000 });
    loading = 0;
    const t2 = performance.now();
    const n = out.series.reduce((a, s) => a + s.buckets.length, 0);
    const first = out.series[0];
    root.dataset.points = String(n);
    root.dataset.span = String((state.end - state.start) / 1000);
    root.dataset.end = state.end.toISOString();
    const xs = plot.data[0];
    root.dataset.firstTs = xs.length ? new Date(xs[0] * 1000).toISOString() : "";
    root.dataset.lastTs = xs.length ? new Date(xs[xs.length - 1] * 1000).toISOString() : "";
    info.textContent = `${n} buckets over ${out.series.length} pens · ${first ? `${first.bucket_s} s buckets from ${first.source}` : ""} · fetched in ${Math.round(t1 - t0)} ms, drawn in ${Math.round(t2 - t1)} ms`;
    window.plantctl.lastTrend = { points: n, pens: out.series.length, fetch_ms: t1 - t0, draw_ms: t2 - t1,
                                  drawn_at_ms: performance.now(), since_mount_ms: performance.now() - since,
                                  bucket_s: first?.bucket_s, source: first?.source };
    performance.mark("plantctl:trend-drawn");
    say(status, "");
    if (state.live) timer = setTimeout(load, Math.max(LIVE_MIN_MS, Math.min(60_000, (first?.bucket_s || 2) * 1000)));
  }

  function rebuild() {
    builtFor = "";
    load();
  }

  const onResize = () => { if (plot) plot.setSize({ width: chartBox.clientWidth, height: 420 }); };
  window.addEventListener("resize", onResize);
  load();
  return () => { clearTimeout(timer); loading = -1; window.removeEventListener("resize", onResize); plot?.destroy(); };
}
