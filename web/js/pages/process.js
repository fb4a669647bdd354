// Level 2: the process graphic of the treatment train, drawn from the plant file's process: section (or the
// train derived from tag names) — units in flow order, ISA-5.1 instrument bubbles with live values, dosing
// pumps, loop tags. Any instrument or pump opens its faceplate (level 3); a loop tag opens the Loops page.

import { api } from "../api.js";
import { openFaceplate, svg } from "../hmi.js";
import { el, fmtTag, qualityClass, qualityReason } from "../util.js";

const H = 430;
const PIPE_Y = 200;
const WIDTH = { line: 210, tank: 290, column: 170, valve: 110 };
const R = 27;

/** Make an SVG group behave as a button: focusable, Enter/Space activate, named for screen readers. */
function actionable(g, label, action) {
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  g.setAttribute("aria-label", label);
  g.addEventListener("click", action);
  g.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); action(); }
  });
  return g;
}

function bubble(inst, cx, cy, ctx) {
  const [letters, number] = inst.tag.includes("-") ? inst.tag.split("-", 2) : [inst.tag, ""];
  const g = svg("g", { class: "p-inst", "data-tag": inst.tag },
    svg("rect", { class: "hit", x: cx - R - 6, y: cy - R - 6, width: 2 * R + 12, height: 2 * R + 36 }),
    svg("circle", { cx, cy, r: R }),
    svg("line", { x1: cx - R, x2: cx + R, y1: cy, y2: cy }),
    svg("text", { x: cx, y: cy - 7, class: "letters", "text-anchor": "middle", text: letters }),
    svg("text", { x: cx, y: cy + 17, class: "number", "text-anchor": "middle", text: number }),
    svg("text", { x: cx, y: cy + R + 17, class: "pvalue", "text-anchor": "middle", "data-testid": "pvalue", text: "—" }),
    svg("text", { x: cx + R - 2, y: cy - R + 4, class: "pmarker", text: "" }),
    svg("title", { text: `${inst.tag} ${inst.description}` }));
  return actionable(g, `${inst.tag} ${inst.description}: faceplate`, () => openFaceplate(ctx, inst.tag));
}

function loopTag(name, cx, cy) {
  const g = svg("g", { class: "p-loop", "data-loop": name },
    svg("rect", { x: cx - 44, y: cy - 14, width: 88, height: 28, rx: 3 }),
    svg("text", { x: cx, y: cy + 5, "text-anchor": "middle", text: name }));
  return actionable(g, `${name} loop faceplate`, () => { location.hash = "#/loops"; });
}

function pumpSymbol(p, cx, cy, ctx, tankBottom) {
  const speed = p.tags.find((t) => t.endsWith(".SPEED")) || p.tags[0];
  const g = svg("g", { class: "p-pump", "data-pump": p.name },
    svg("line", { class: "dose-line", x1: cx, x2: cx, y1: cy - 20, y2: tankBottom }),
    svg("rect", { class: "hit", x: cx - 30, y: cy - 24, width: 60, height: 76 }),
    svg("circle", { cx, cy, r: 19 }),
    svg("path", { d: `M${cx - 10} ${cy - 13} L${cx + 16} ${cy} L${cx - 10} ${cy + 13}` }),
    svg("text", { x: cx, y: cy + 36, "text-anchor": "middle", text: p.name }),
    svg("text", { x: cx, y: cy + 50, class: "pvalue", "text-anchor": "middle", text: "—" }));
  g.speedTag = speed;
  return actionable(g, `${p.name} pump: faceplate of ${speed}`, () => speed && openFaceplate(ctx, speed));
}

function drawUnit(u, x, ctx) {
  const w = WIDTH[u.kind] || 200;
  const g = svg("g", { class: `p-unit ${u.kind}`, "data-unit": u.name });
  const parts = [];
  const label = svg("text", { x: x + w / 2, y: 24, class: "unit-name", "text-anchor": "middle", text: u.name });
  const desc = svg("text", { x: x + w / 2, y: 40, class: "unit-desc", "text-anchor": "middle", text: u.description });
  let slots;
  let tankBottom = PIPE_Y;
  if (u.kind === "tank") {
    const top = 58;
    tankBottom = 318;
    parts.push(svg("path", { class: "vessel", d: `M${x + 14} ${top} V${tankBottom - 30} Q${x + 14} ${tankBottom} ${x + 44} ${tankBottom} `
      + `H${x + w - 44} Q${x + w - 14} ${tankBottom} ${x + w - 14} ${tankBottom - 30} V${top} Z` }));
    slots = [[x + w / 2 - 82, 110], [x + w / 2, 110], [x + w / 2 + 82, 110],
      [x + w / 2 - 82, 215], [x + w / 2, 215], [x + w / 2 + 82, 215]];
  } else if (u.kind === "column") {
    parts.push(svg("rect", { class: "vessel", x: x + w / 2 - 36, y: 58, width: 72, height: 290, rx: 30 }),
      svg("line", { class: "pipe", x1: x, x2: x + w / 2 - 36, y1: PIPE_Y, y2: PIPE_Y }),
      svg("line", { class: "pipe", x1: x + w / 2 + 36, x2: x + w, y1: PIPE_Y, y2: PIPE_Y }));
    slots = [[x + w / 2, 110], [x + w / 2, 265]];
  } else if (u.kind === "valve") {
    const cx = x + w / 2;
    parts.push(svg("line", { class: "pipe", x1: x, x2: x + w, y1: PIPE_Y, y2: PIPE_Y }),
      svg("path", { class: "valve", d: `M${cx - 18} ${PIPE_Y - 12} L${cx + 18} ${PIPE_Y + 12} V${PIPE_Y - 12} L${cx - 18} ${PIPE_Y + 12} Z` }));
    slots = [[cx, 110], [cx, 290]];
  } else {
    parts.push(svg("line", { class: "pipe", x1: x, x2: x + w, y1: PIPE_Y, y2: PIPE_Y }));
    slots = [[x + w / 2 - 45, 110], [x + w / 2 + 45, 110], [x + w / 2 - 45, 290], [x + w / 2 + 45, 290]];
  }
  const nodes = [];
  u.instruments.forEach((inst, i) => {
    const [cx, cy] = slots[i % slots.length];
    const b = bubble(inst, cx, cy, ctx); // more instruments than slots overlap: give such a unit fewer tags

    if (u.kind !== "tank") parts.push(svg("line", { class: "stem", x1: cx, x2: cx, y1: cy < PIPE_Y ? cy + R : cy - R, y2: PIPE_Y }));
    nodes.push(b);
    if (inst.loop) nodes.push(loopTag(inst.loop, cx, cy - R - 20));
  });
  u.pumps.forEach((p, i) => {
    const cx = x + (w / (u.pumps.length + 1)) * (i + 1);
    nodes.push(pumpSymbol(p, cx, 372, ctx, tankBottom));
  });
  g.append(label, desc, ...parts, ...nodes);
  return [g, w];
}

export function mount(root, ctx) {
  const holder = el("div.process-graphic", { "data-testid": "process-graphic" }, el("p.note", { text: "loading the train…" }));
  const note = el("p.note", { "data-testid": "process-source" });
  root.append(el("h1", { text: "Process" }), note, holder);
  let unLive = () => {};
  let unAlarms = () => {};
  (async () => {
    let proc;
    try {
      proc = await api.get("/api/v1/overview/process");
    } catch (exc) {
      holder.replaceChildren(el("p.error", { role: "alert", text: exc.message }));
      return;
    }
    note.textContent = `Units in flow order (${proc.source}). Select an instrument or a pump for its faceplate.`;
    let x = 10;
    const groups = [];
    for (const u of proc.units) {
      const [g, w] = drawUnit(u, x, ctx);
      groups.push(g);
      x += w;
    }
    const arrow = svg("path", { class: "flow-arrow", d: `M${x} ${PIPE_Y - 7} L${x + 12} ${PIPE_Y} L${x} ${PIPE_Y + 7} Z` });
    // never drawn below its design scale (touch targets stay ≥ 44 px): a long train scrolls sideways instead
    const drawing = svg("svg", { class: "process", viewBox: `0 0 ${x + 24} ${H}`, role: "group",
                                 "aria-label": "Process graphic" }, svg("line", { class: "pipe main", x1: 10, x2: x, y1: PIPE_Y, y2: PIPE_Y }), groups, arrow);
    drawing.style.minWidth = `${x + 24}px`;  // through the CSSOM: the panel's CSP allows no style attribute
    drawing.style.maxHeight = "none";
    holder.replaceChildren(drawing);
    const insts = new Map([...drawing.querySelectorAll(".p-inst")].map((g) => [g.dataset.tag, g]));
    const pumps = [...drawing.querySelectorAll(".p-pump")];
    const paint = () => {
      for (const [tag, g] of insts) {
        const s = ctx.live.get(tag);
        if (!s) continue;
        const q = qualityClass(s.quality);
        g.dataset.quality = q;
        const meta = ctx.tags.get(tag);
        g.querySelector(".pvalue").textContent = q === "bad" ? `BAD ${qualityReason(s.quality)}` : `${fmtTag(s.value, meta)} ${meta?.unit || ""}`;
      }
      for (const g of pumps) {
        const name = g.dataset.pump;
        const running = ctx.live.get(`${name}.RUNNING`);
        const fault = ctx.live.get(`${name}.FAULT`);
        const speed = ctx.live.get(g.speedTag);
        g.dataset.state = fault?.value === 1 ? "fault" : running?.value === 1 ? "running" : "stopped";
        g.querySelector(".pvalue").textContent = speed ? `${fmtTag(speed.value, ctx.tags.get(g.speedTag))} %` : "—";
      }
    };
    paint();
    unLive = ctx.live.subscribe(paint);
    unAlarms = ctx.alarms.subscribe((w) => {
      for (const [tag, g] of insts) {
        const top = w.forTag(tag)[0];
        g.dataset.alarm = top ? `p${top.priority}` : "";
        g.classList.toggle("unacked", Boolean(top && !top.acked));
        g.querySelector(".pmarker").textContent = top ? String(top.priority) : "";
      }
    });
    root.dataset.process = "ready";
  })();
  return () => { unLive(); unAlarms(); };
}
