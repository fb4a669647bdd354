// Overview (level 1): key figures, key measurements and loops on top (level1.js); below, T-101 at a glance —
// influent, the tank, both dosing pumps, the column, every instrument live; any instrument opens its faceplate.

import { api } from "../api.js";
import { openFaceplate } from "../hmi.js";
import { mountLevel1 } from "../level1.js";
import { el, fmtTag, fmtTime, qualityClass, qualityReason, say } from "../util.js";

const PUMPS = [
  { name: "P-201", reagent: "NaOH" },
  { name: "P-202", reagent: "H₂SO₄" },
];
const AREAS = [
  { title: "Influent", tags: ["FIT-100", "AIT-100"] },
  { title: "T-101 neutralisation", tags: ["AIT-101", "CIT-101", "LIT-101", "TIT-101"], vessel: true },
  { title: "C-301 lithium sorbent", tags: ["AIT-301"] },
];
const PUMP_TAGS = /^P-20[12]\./;

/** A value as the operator reads it: on/off for discrete points, the tag's own decimals otherwise. */
const show = fmtTag;

/** One instrument: tag, value with unit, quality marker, alarm marker; updated in place; its reading opens
 *  the faceplate (level 3). */
function instrument(tag, meta, ctx) {
  const node = el("div.instrument", { "data-tag": tag, role: "group", "aria-label": `${tag} ${meta?.description || ""}` },
    el("div.tagname", {}, el("a", { href: `#/trends?tags=${encodeURIComponent(tag)}&range=1h`, text: tag,
      title: `Trend of ${tag}, last hour` }), el("span.alarm-marker", { "data-testid": "alarm-marker" })),
    el("div.desc", { text: meta?.description || "" }),
    el("button.reading.open-faceplate", { type: "button", "aria-label": `${tag} faceplate`,
      onclick: () => openFaceplate(ctx, tag) }, el("span.value", { "data-testid": "value", text: "—" }), " ",
      el("span.unit", { text: meta?.unit || "" })),
    el("div.quality", { "data-testid": "quality" }),
  );
  return node;
}

function updateInstrument(node, s, meta) {
  const q = qualityClass(s.quality);
  node.dataset.quality = q;
  const v = node.querySelector(".value");
  v.textContent = show(s.value, meta);
  v.title = `${s.tag} at ${fmtTime(s.ts)} UTC, quality ${s.quality.name}`;
  const qn = node.querySelector(".quality");
  if (q === "good") {
    qn.replaceChildren();
  } else {
    qn.replaceChildren(el("span.qmark", { text: q === "bad" ? "BAD" : "UNC" }), " ", qualityReason(s.quality));
  }
  qn.title = q === "good" ? "" : s.quality.reason;
}

function updateAlarm(node, alarms) {
  const marker = node.querySelector(".alarm-marker");
  const top = alarms[0];
  node.dataset.alarm = top ? `p${top.priority}` : "";
  node.classList.toggle("unacked", Boolean(top && !top.acked));
  marker.textContent = top ? `${top.priority}` : "";
  marker.title = top ? alarms.map((a) => `${a.name} ${a.state}`).join(", ") : "";
  marker.setAttribute("aria-label", top ? `alarm ${alarms.map((a) => `${a.name} ${a.acked ? "acknowledged" : "unacknowledged"}`).join(", ")}` : "no alarm");
}

/** ISA-5.1 pump symbol; filled when running, hollow when stopped, dashed when faulted (CSS). */
function pumpSymbol() {
  const holder = el("span", { "aria-hidden": "true" });
  holder.innerHTML = '<svg class="pump-symbol" viewBox="0 0 40 40"><circle cx="20" cy="20" r="15"/>'
    + '<path d="M11 9 L33 20 L11 31"/></svg>';
  return holder;
}

/** Start / Stop / Reset: each asks for confirmation, then writes the pump's RUN or RESET tag through the API. */
const COMMANDS = [
  { label: "Start", verb: "Start", writes: (n) => [[`${n}.RUN`, 1]] },
  { label: "Stop", verb: "Stop", writes: (n) => [[`${n}.RUN`, 0]] },
  // RESET is a level on the PLC, not a pulse (docs/sim-register-map.md): 1, then 0
  { label: "Reset", verb: "Reset the fault of", writes: (n) => [[`${n}.RESET`, 1], [`${n}.RESET`, 0]] },
];

function pumpCommands(p, ctx) {
  const canWrite = ctx.can("operator");
  const status = el("p.status", { role: "status", "aria-live": "polite", "data-testid": "pump-status" });
  const confirmBox = el("div.confirm", { hidden: true, role: "alertdialog", "aria-label": `Confirm ${p.name} command` });
  const send = async (cmd) => {
    confirmBox.hidden = true;
    try {
      for (const [tag, value] of cmd.writes(p.name)) {
        await api.post(`/api/v1/tags/${encodeURIComponent(tag)}/write`, { value, reason: `operator panel: ${cmd.label}` });
      }
      say(status, `${p.name} ${cmd.label.toLowerCase()} sent`, "ok");
    } catch (exc) {
      say(status, exc.message, "error"); // the API's refusal, word for word
    }
  };
  const ask = (cmd) => {
    say(status, "");
    confirmBox.replaceChildren(
      el("p", { text: `${cmd.verb} ${p.name} (${p.reagent} dosing)?` }),
      el("button", { type: "button", text: "Confirm", onclick: () => send(cmd) }),
      el("button.quiet", { type: "button", text: "Cancel",
        onclick: () => { confirmBox.hidden = true; say(status, `${p.name} ${cmd.label.toLowerCase()} cancelled.`); } }));
    confirmBox.hidden = false;
    confirmBox.querySelector("button").focus();
  };
  return [
    el("div.pump-cmds", { role: "group", "aria-label": `${p.name} commands` },
      COMMANDS.map((cmd) => el("button", { type: "button", text: `${cmd.label}…`, disabled: !canWrite,
        "data-command": cmd.label.toLowerCase(), onclick: () => ask(cmd) }))),
    confirmBox,
    canWrite ? "" : el("p.note.readonly", { text: `Read-only: ${ctx.user.role} cannot command pumps.` }),
    status,
  ];
}

function pump(p, ctx) {
  return el("div.pump", { "data-pump": p.name, role: "group", "aria-label": `${p.name} ${p.reagent} dosing pump` },
    pumpSymbol(),
    el("div.tagname", {}, el("span", { text: `${p.name}` }), el("span.alarm-marker")),
    el("div.desc", { text: `${p.reagent} dosing` }),
    el("div.pstate", { "data-testid": "pump-state", text: "—" }),
    el("div.reading", {}, el("span.value", { "data-testid": "speed", text: "—" }), " ", el("span.unit", { text: "%" })),
    pumpCommands(p, ctx),
  );
}

function updatePump(node, live, alarms) {
  const name = node.dataset.pump;
  const running = live.get(`${name}.RUNNING`);
  const fault = live.get(`${name}.FAULT`);
  const speed = live.get(`${name}.SPEED`);
  const bad = [running, fault, speed].some((s) => !s || qualityClass(s.quality) === "bad");
  let state = "stopped";
  if (fault?.value === 1) state = "fault";
  else if (running?.value === 1) state = "running";
  node.dataset.state = bad ? "unknown" : state;
  node.querySelector(".pstate").textContent = bad ? "BAD feedback" : state.toUpperCase();
  node.querySelector(".value").textContent = speed ? fmtTag(speed.value, tagMeta.get(`${name}.SPEED`)) : "—";
  updateAlarm(node, alarms);
}

let tagMeta = new Map();

export function mount(root, ctx) {
  const { live, tags, alarms } = ctx;
  tagMeta = tags;
  const unLevel1 = mountLevel1(root, ctx);
  const instruments = new Map();
  const make = (tag) => {
    const n = instrument(tag, tags.get(tag), ctx);
    instruments.set(tag, n);
    return n;
  };
  const flow = el("div.flow", { "aria-label": "Process" });
  const pumps = PUMPS.map((p) => pump(p, ctx));
  for (const area of AREAS) {
    const box = el(`section.area${area.vessel ? ".vessel" : ""}`, { "aria-label": area.title },
      el("h2", { text: area.title }), el("div.instruments", {}, area.tags.map(make)));
    if (area.vessel) box.append(el("div.pumps", { "aria-label": "Dosing pumps" }, pumps));
    flow.append(box);
    if (area !== AREAS[AREAS.length - 1]) flow.append(el("div.pipe", { "aria-hidden": "true" }));
  }
  flow.append(el("div.pipe", { "aria-hidden": "true" }), el("section.area.discharge", { "aria-label": "Discharge" },
    el("h2", { text: "Discharge" }), el("p.note", { text: "permit pH 6 – 9" })));

  const others = [...tags.values()].filter((t) => !AREAS.some((a) => a.tags.includes(t.name)) && !PUMP_TAGS.test(t.name));
  const tableBody = el("tbody");
  const rows = new Map();
  for (const t of tags.values()) {
    const tr = el("tr", { "data-tag": t.name },
      el("th", { scope: "row", text: t.name }), el("td", { text: t.description }),
      el("td.num.value", { text: "—" }), el("td", { text: t.unit }), el("td.quality", { text: "" }),
      el("td.alarm", { text: "" }), el("td.time", { text: "" }));
    rows.set(t.name, tr);
    tableBody.append(tr);
  }
  root.prepend(el("h1.visually-hidden", { text: "Overview" }));
  root.append(
    el("h2", { text: "T-101 neutralisation train" }),
    flow,
    el("details.all-tags", { open: true },
      el("summary", { text: `Every tag (${tags.size})` }),
      el("table.grid", { "aria-label": "Every tag" },
        el("thead", {}, el("tr", {}, ["Tag", "Description", "Value", "Unit", "Quality", "Alarm", "Time (UTC)"].map(
          (h) => el("th", { scope: "col", text: h })))),
        tableBody)),
    others.length ? el("p.note", { text: `Supervisory tags: ${others.map((t) => t.name).join(", ")}` }) : "",
  );

  const paint = (batch) => {
    for (const [tag, s] of batch) {
      const meta = tags.get(tag);
      const node = instruments.get(tag);
      if (node) updateInstrument(node, s, meta);
      const tr = rows.get(tag);
      if (tr) {
        const q = qualityClass(s.quality);
        tr.dataset.quality = q;
        tr.querySelector(".value").textContent = show(s.value, meta);
        tr.querySelector(".quality").textContent = q === "good" ? "good" : `${q === "bad" ? "BAD" : "UNC"} ${qualityReason(s.quality)}`;
        tr.querySelector(".time").textContent = fmtTime(s.ts);
      }
      if (PUMP_TAGS.test(tag)) {
        for (const p of pumps) if (tag.startsWith(p.dataset.pump)) updatePump(p, live, alarms.forTag(`${p.dataset.pump}.FAULT`));
      }
    }
  };
  paint(live.values);
  const unLive = live.subscribe(paint);
  const unAlarms = alarms.subscribe((w) => {
    for (const [tag, node] of instruments) updateAlarm(node, w.forTag(tag));
    for (const p of pumps) updatePump(p, live, w.forTag(`${p.dataset.pump}.FAULT`));
    for (const [tag, tr] of rows) {
      const a = w.forTag(tag);
      tr.querySelector(".alarm").textContent = a.map((x) => `${x.name} ${x.state}`).join(", ");
      tr.dataset.alarm = a[0] ? `p${a[0].priority}` : "";
    }
  });
  return () => { unLevel1(); unLive(); unAlarms(); };
}
