// Level 1 of the overview: key figures today and the last hour, analog indicators with 2-hour sparklines,
// every loop's mode, SP, PV and OUT — all from GET /api/v1/overview (refreshed every 5 s) and the live stream.

import { api } from "./api.js";
import { beyondLimit, indicator, openFaceplate, sparkline, svg } from "./hmi.js";
import { dateToUtcInput, el, fmt, fmtTag, qualityClass, say, utcInputToDate } from "./util.js";

export const REFRESH_MS = 5000;
/** Fewer hours than one shift to breakthrough: the next shift must regenerate, so the bar says so. */
export const NEAR_BREAKTHROUGH_H = 8;

/** [key, label, unit, how to show it] of each figure row; `null` figures say "not measured". */
const FIGURES = [
  ["permit_pct", "Discharge in permit", "%", (f) => fmt(f.permit_pct, 1)],
  ["minutes_out_of_permit", "Out of permit band", "min", (f) => fmt(f.minutes_out_of_permit, 1)],
  ["volume_discharged_m3", "Volume discharged", "m³", (f) => fmt(f.volume_discharged_m3, 1)],
  ["volume_diverted_m3", "Volume diverted", "m³", (f) => f.volume_diverted_m3 === null ? "not measured" : fmt(f.volume_diverted_m3, 1)],
  ["reagents", "Reagent per m³ discharged", "L/m³", (f) => f.reagents.length
    ? f.reagents.map((r) => `${r.name} ${r.l_per_m3 === null ? "—" : fmt(r.l_per_m3, 2)}`).join(" · ") : "not measured"],
  ["li_recovered_kg", "Lithium recovered", "kg", (f) => f.li_recovered_kg === null
    ? (f.li_out_kg === null ? "not measured" : `not measured (inlet); ${fmt(f.li_out_kg, 2)} kg left in the discharge`)
    : fmt(f.li_recovered_kg, 2)],
  ["alarms_annunciated", "Alarms annunciated", "", (f) => f.alarms_annunciated === null ? "—"
    : `${f.alarms_annunciated} (${fmt(f.alarm_rate_per_10min, 2)} per 10 min)`],
];

function figureTable(ov, onRegenerate) {
  const rows = FIGURES.map(([key, label, unit, show]) => el("tr", { "data-figure": key },
    el("th", { scope: "row", text: label }),
    el("td.num", { "data-testid": `today-${key}`, text: ov.today ? show(ov.today) : "—" }),
    el("td.num", { "data-testid": `hour-${key}`, text: ov.last_hour ? show(ov.last_hour) : "—" }),
    el("td.unit", { text: unit })));
  const a = ov.alarms;
  rows.push(
    el("tr", { "data-figure": "standing" }, el("th", { scope: "row", text: "Standing alarms now" }),
      el("td.num", { colspan: 2, "data-testid": "standing-alarms",
        text: `${a.standing} active · ${a.unacked} unacknowledged · ${a.shelved} shelved · ${a.out_of_service} out of service` }),
      el("td")),
    el("tr", { "data-figure": "column" },
      el("th", { scope: "row", text: ov.column ? `${ov.column.column} loading / breakthrough` : "Column loading / breakthrough" }),
      el("td", { colspan: 2 }, columnBar(ov)),
      el("td", {}, ov.column && onRegenerate ? el("button.quiet", { type: "button", "data-testid": "record-regeneration",
        text: "Regenerated…", title: `Record that ${ov.column.column} was regenerated: its loading starts again at 0`,
        onclick: () => onRegenerate(ov.column) }) : null)));
  return el("table.grid.keyfigs", { "aria-label": "Key figures" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "" }),
      el("th.num", { scope: "col", text: "Today (plant time)" }), el("th.num", { scope: "col", text: "Last hour" }),
      el("th", { scope: "col", text: "Unit" }))),
    el("tbody", {}, rows));
}

/** The column's loading as a bar (% of capacity) with the hours left to breakthrough; grey unless near or through. */
function columnBar(ov) {
  const load = ov.column_loading_pct;
  const ttb = ov.time_to_breakthrough_h;
  const col = ov.column;
  const pct = load.value;
  const broken = Boolean(col && col.broken_through);
  const state = broken || (pct !== null && pct >= 100) ? "broken"
    : ttb.value !== null && ttb.value < NEAR_BREAKTHROUGH_H ? "near" : "";
  const width = pct === null ? 0 : Math.max(0, Math.min(100, pct));
  const bar = svg("svg", { class: "column-bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true" },
    svg("rect", { class: "track", x: 0, y: 0, width: 100, height: 10 }),
    svg("rect", { class: "fill", x: 0, y: 0, width, height: 10 }));
  const hours = ttb.value === null ? ttb.note || "—"
    : broken ? ttb.note : `${fmt(ttb.value, ttb.value < 10 ? 1 : 0)} h to breakthrough`;
  const title = col ? `${fmt(col.loaded_kg, 2)} of ${fmt(col.capacity_kg, 0)} kg Li` +
    (col.estimated_kg ? ` (${fmt(col.estimated_kg, 2)} kg estimated for ${fmt(col.unknown_h, 1)} h without data)` : "") +
    (col.regenerated_at ? ` · regenerated ${col.regenerated_at.slice(0, 16).replace("T", " ")} UTC by ${col.regenerated_by}` : "")
    : load.note;
  return el("div.column-loading", { "data-testid": "column-bar", "data-state": state, role: "meter",
    "aria-label": `${col ? col.column : "column"} loading`, "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": pct === null ? null : String(Math.round(pct)), title },
    pct === null ? null : bar,
    el("span.num", { "data-testid": "column-loading", text: pct === null ? load.note : `${fmt(pct, 0)} % loaded` }),
    pct === null && ttb.note === load.note ? null
      : el("span.num", { "data-testid": "column-breakthrough", text: hours }));
}

function indicatorCard(ind, ctx, spark) {
  const meta = ctx.tags.get(ind.tag) || ind;
  const gauge = indicator(ind);
  const card = el("button.indicator-card", { type: "button", "data-tag": ind.tag,
    "aria-label": `${ind.tag} ${ind.description}: open faceplate`, onclick: () => openFaceplate(ctx, ind.tag, ind) },
    el("span.tagname", {}, el("span", { text: ind.tag }), el("span.alarm-marker")),
    el("span.desc", { text: `${ind.description} · ${ind.role}` }),
    el("span.reading", {}, el("span.value", { "data-testid": "value", text: "—" }), " ", el("span.unit", { text: ind.unit })),
    gauge, el("span.spark", {}, sparkline(ind, spark)));
  card.paint = (s) => {
    const q = qualityClass(s.quality);
    card.dataset.quality = q;
    card.querySelector(".value").textContent = fmtTag(s.value, meta);
    gauge.move(q === "bad" ? null : s.value);
    const hit = q === "good" ? beyondLimit(ind, s.value) : null;
    card.dataset.beyond = hit ? `p${hit.priority}` : "";
  };
  card.spark = (series) => card.querySelector(".spark").replaceChildren(sparkline(ind, series));
  return card;
}

function loopRow(lp) {
  const dev = lp.deviation;
  const span = Math.max(Math.abs(dev ?? 0), 10 ** -lp.decimals);
  const tr = el("tr", { "data-loop": lp.name, "data-mode": lp.mode },
    el("th", { scope: "row" }, el("a", { href: "#/loops", text: lp.name })),
    el("td", {}, el("span.mode-now", { text: lp.mode })),
    el("td.num", { "data-testid": "loop-sp", text: fmt(lp.working_setpoint ?? lp.setpoint, lp.decimals),
      title: lp.working_setpoint !== null && lp.working_setpoint !== undefined && lp.working_setpoint !== lp.setpoint
        ? `working setpoint (operator's ${fmt(lp.setpoint, lp.decimals)})` : "setpoint" }),
    el("td.num", { "data-testid": "loop-pv", text: lp.pv_good ? fmt(lp.pv, lp.decimals) : "BAD" }),
    el("td.num", { "data-testid": "loop-out", text: fmt(lp.output, 1) }),
    el("td.num.dev", { "data-testid": "loop-dev", title: "PV − working SP",
      text: dev === null ? "—" : `${dev > 0 ? "▲" : dev < 0 ? "▼" : "="} ${fmt(Math.abs(dev), lp.decimals)}` }),
    el("td.calm", { text: lp.interlocks.length ? `interlock: ${lp.interlocks.join(", ")}` : lp.description }));
  tr.dataset.devSpan = String(span);
  return tr;
}

function loopTable(ov) {
  return el("table.grid.loops-summary", { "aria-label": "Control loops" },
    el("thead", {}, el("tr", {}, ["Loop", "Mode", "SP", "PV", "OUT %", "Deviation", ""].map(
      (h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ov.loops.map(loopRow)));
}

/** Build level 1 into `root`; returns its unmount. */
export function mountLevel1(root, ctx) {
  const status = el("p.note", { role: "status", "data-testid": "overview-status", text: "loading key figures…" });
  const figures = el("section.figures", { "aria-label": "Key figures" }, el("h2", { text: "Key figures" }), status);
  const indicators = el("section.key-indicators", { "aria-label": "Key measurements" }, el("h2", { text: "Key measurements" }));
  const loops = el("section.loop-summary", { "aria-label": "Loops" }, el("h2", { text: "Loops" }));
  root.append(el("div.level1", {}, figures, indicators, loops));
  const cards = new Map();
  const dialog = el("dialog.regeneration", { "aria-labelledby": "regeneration-title", "data-testid": "regeneration-dialog" });
  root.append(dialog);
  let timer = 0;
  let stopped = false;

  const paintLive = (batch) => {
    for (const [tag, s] of batch) cards.get(tag)?.paint(s);
    if (cards.size && [...cards.keys()].some((t) => ctx.live.get(t)) && !performance.getEntriesByName("overview-live").length) {
      performance.mark("overview-live"); // first paint with live data (tests/panel/test_operator_day.py)
    }
  };

  const apply = (ov) => {
    status.textContent = ov.figures_note || `figures as of ${new Date(ov.at).toISOString().slice(11, 19)} UTC · plant time zone ${ov.zone}`;
    figures.querySelector("table")?.remove();
    figures.append(figureTable(ov, ctx.can("operator") ? regenerate : null));
    if (!cards.size) {
      const sparks = new Map(ov.sparklines.map((s) => [s.tag, s]));
      const grid = el("div.indicator-grid");
      for (const ind of ov.indicators) {
        const card = indicatorCard(ind, ctx, sparks.get(ind.tag));
        cards.set(ind.tag, card);
        grid.append(card);
      }
      indicators.append(grid);
      paintLive(ctx.live.values);
    } else {
      for (const s of ov.sparklines) cards.get(s.tag)?.spark(s);
    }
    loops.querySelector("table")?.remove();
    loops.append(loopTable(ov));
    root.dataset.overview = "ready";
    if (!performance.getEntriesByName("overview-figures").length) performance.mark("overview-figures");
  };

  // An operator records a regeneration (audited, noted in the logbook): the loading counts from then.
  const regenerate = (col) => {
    const at = el("input", { type: "datetime-local", name: "at", required: true, value: dateToUtcInput(new Date()) });
    const comment = el("input", { name: "comment", maxlength: 500, placeholder: "e.g. acid wash, 3 BV rinse" });
    const err = el("p.error", { role: "alert" });
    const form = el("form", { method: "dialog" },
      el("h2", { id: "regeneration-title", text: `${col.column} regenerated` }),
      el("p", { text: `Its loading (${fmt(col.loaded_kg, 2)} kg now) starts again at 0 from the time the bed came back on line.` }),
      el("label", {}, "Back on line (UTC) ", at), el("label", {}, "Comment ", comment), err,
      el("div.buttons", {}, el("button", { type: "submit", text: "Record regeneration" }),
        el("button.quiet", { type: "button", onclick: () => dialog.close(), text: "Cancel" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api.post("/api/v1/column/regenerated", { at: utcInputToDate(at.value).toISOString(), comment: comment.value });
        dialog.close();
        say(status, `${col.column} regeneration recorded`, "ok");
        clearTimeout(timer);
        load();
      } catch (exc) {
        err.textContent = exc.message;
      }
    });
    dialog.replaceChildren(form);
    dialog.showModal();
    at.focus();
  };

  const load = async () => {
    try {
      apply(await api.get("/api/v1/overview"));
    } catch (exc) {
      status.textContent = exc.message;
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  };
  load();
  const unLive = ctx.live.subscribe(paintLive);
  const unAlarms = ctx.alarms.subscribe((w) => {
    for (const [tag, card] of cards) {
      const top = w.forTag(tag)[0];
      card.dataset.alarm = top ? `p${top.priority}` : "";
      card.classList.toggle("unacked", Boolean(top && !top.acked));
      card.querySelector(".alarm-marker").textContent = top ? `${top.priority}` : "";
    }
  });
  return () => { stopped = true; clearTimeout(timer); unLive(); unAlarms(); };
}
