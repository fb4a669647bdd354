// Loops: one faceplate per control loop — PV / SP / OUT bars, mode, setpoint entry with confirmation and limits.

import { api } from "../api.js";
import { el, fmt, fmtTime, qualityClass, qualityReason, say } from "../util.js";

const REFRESH_MS = 2000;

function bar(label, unit) {
  return el("div.bar", { "data-bar": label },
    el("span.bar-label", { text: label }),
    el("div.track", { role: "meter", "aria-label": `${label}`, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 },
      el("div.fill"), el("div.sp-mark", { hidden: true })),
    el("span.bar-value", { "data-testid": `${label.toLowerCase()}-value`, text: "—" }), el("span.unit", { text: unit }));
}

function setBar(node, value, lo, hi, text, spValue) {
  const track = node.querySelector(".track");
  const pct = value === null || value === undefined ? 0 : Math.max(0, Math.min(100, ((value - lo) / (hi - lo)) * 100));
  node.querySelector(".fill").style.width = `${pct}%`;
  track.setAttribute("aria-valuenow", value ?? "");
  track.setAttribute("aria-valuemin", lo);
  track.setAttribute("aria-valuemax", hi);
  node.querySelector(".bar-value").textContent = text;
  const mark = node.querySelector(".sp-mark");
  if (spValue !== undefined) {
    mark.hidden = false;
    mark.style.left = `${Math.max(0, Math.min(100, ((spValue - lo) / (hi - lo)) * 100))}%`;
  }
}

function faceplate(loop, ctx, refresh) {
  const canWrite = ctx.can("operator");
  const pvRange = ctx.tags.get(loop.pv_tag)?.range || { low: 0, high: 14 };
  const dec = ctx.tags.get(loop.pv_tag)?.decimals ?? 2; // the PV tag's precision for PV and SP
  const status = el("p.status", { role: "status", "aria-live": "polite", "data-testid": "loop-status" });
  const spInput = el("input", { type: "number", step: "0.01", name: "setpoint", inputmode: "decimal",
    min: loop.setpoint_limits.low, max: loop.setpoint_limits.high, disabled: !canWrite,
    "aria-describedby": `${loop.name}-sp-limits` });
  const confirmBox = el("div.confirm", { hidden: true, role: "alertdialog", "aria-label": "Confirm setpoint change" });
  const outInput = el("input", { type: "number", step: "0.1", name: "output", disabled: !canWrite,
    min: loop.output_limits.low, max: loop.output_limits.high });
  const modeButtons = ["MAN", "AUTO", "CAS"].map((m) => el("button.mode", { type: "button", "data-mode": m, text: m,
    disabled: !canWrite, "aria-pressed": "false",
    onclick: async () => {
      try {
        await api.put(`/api/v1/loops/${encodeURIComponent(loop.name)}/mode`, { mode: m, reason: "operator panel" });
        say(status, `${loop.name} mode ${m}`, "ok");
      } catch (exc) { say(status, exc.message, "error"); }
      refresh();
    } }));

  const askSetpoint = (ev) => {
    ev.preventDefault();
    const value = Number(spInput.value);
    const { low, high } = loop.setpoint_limits;
    if (spInput.value === "" || !Number.isFinite(value)) {
      say(status, "Enter a number for the setpoint.", "error");
      return;
    }
    if (value < low || value > high) {
      say(status, `Setpoint ${value} ${loop.pv_unit} is outside the limits ${low} – ${high} ${loop.pv_unit}; not sent.`, "error");
      return;
    }
    say(status, "");
    const current = Number(faceNode.dataset.setpoint);
    confirmBox.replaceChildren(
      el("p", { text: `Change ${loop.name} setpoint from ${fmt(current, dec)} to ${fmt(value, dec)} ${loop.pv_unit}?` }),
      el("button", { type: "button", text: "Confirm", onclick: async () => {
        confirmBox.hidden = true;
        try {
          const out = await api.put(`/api/v1/loops/${encodeURIComponent(loop.name)}/setpoint`, { value });
          say(status, `${loop.name} setpoint now ${fmt(out.setpoint, dec)} ${loop.pv_unit}`, "ok");
          spInput.value = "";
        } catch (exc) {
          say(status, exc.message, "error"); // the API's refusal, word for word
        }
        refresh();
      } }),
      el("button.quiet", { type: "button", text: "Cancel", onclick: () => { confirmBox.hidden = true; say(status, "Setpoint change cancelled."); } }));
    confirmBox.hidden = false;
    confirmBox.querySelector("button").focus();
  };

  const sendOutput = async (ev) => {
    ev.preventDefault();
    const value = Number(outInput.value);
    const { low, high } = loop.output_limits;
    if (outInput.value === "" || !Number.isFinite(value) || value < low || value > high) {
      say(status, `Output must be a number within ${low} – ${high} %; not sent.`, "error");
      return;
    }
    if (!window.confirm(`Set ${loop.name} manual output to ${value} %?`)) return;
    try {
      await api.put(`/api/v1/loops/${encodeURIComponent(loop.name)}/output`, { value });
      say(status, `${loop.name} output → ${value} %`, "ok");
    } catch (exc) { say(status, exc.message, "error"); }
    refresh();
  };

  const faceNode = el("article.faceplate", { "data-loop": loop.name, "aria-labelledby": `${loop.name}-title` },
    el("header", {}, el("h2", { id: `${loop.name}-title`, text: loop.name }), el("span.mode-now", { "data-testid": "mode" }),
      el("span.interlocks", { "data-testid": "interlocks" })),
    el("p.desc", { text: loop.description }),
    bar("PV", loop.pv_unit), bar("SP", loop.pv_unit), bar("OUT", "%"),
    el("p.pvq", { "data-testid": "pv-quality" }),
    el("p.note.ff", { "data-testid": "feedforward" }),
    el("p.note.tc", { "data-testid": "titration" }),
    el("p.note.wsp", { "data-testid": "working-setpoint" }),
    el("div.modes", { role: "group", "aria-label": `${loop.name} mode` }, modeButtons),
    el("form.sp", { novalidate: true, onsubmit: askSetpoint, "aria-label": `${loop.name} setpoint` },
      el("label", {}, `New setpoint (${loop.pv_unit}) `, spInput),
      el("button", { type: "submit", disabled: !canWrite, text: "Change setpoint…" }),
      el("span.note", { id: `${loop.name}-sp-limits`, text: `limits ${loop.setpoint_limits.low} – ${loop.setpoint_limits.high} ${loop.pv_unit}` })),
    confirmBox,
    el("form.out", { novalidate: true, onsubmit: sendOutput, "aria-label": `${loop.name} manual output` },
      el("label", {}, "Manual output (%) ", outInput), el("button", { type: "submit", disabled: !canWrite, text: "Set output…" }),
      el("span.note", { text: "MAN only" })),
    canWrite ? "" : el("p.note.readonly", { text: `Read-only: ${ctx.user.role} cannot change loops.` }),
    status,
    el("p.note", {}, "Outputs: ", loop.outputs.join(", "), " · period ", `${loop.period_s} s`, " · updated ", el("span.at")),
  );
  faceNode.update = (lp) => {
    faceNode.dataset.setpoint = lp.setpoint;
    faceNode.dataset.mode = lp.mode;
    const pv = lp.pv;
    const q = pv ? qualityClass(pv.quality) : "bad";
    faceNode.dataset.pvQuality = q;
    setBar(faceNode.querySelector("[data-bar=PV]"), q === "bad" ? null : pv?.value, pvRange.low, pvRange.high,
      pv ? fmt(pv.value, dec) : "—", lp.setpoint);
    setBar(faceNode.querySelector("[data-bar=SP]"), lp.setpoint, pvRange.low, pvRange.high, fmt(lp.setpoint, dec));
    setBar(faceNode.querySelector("[data-bar=OUT]"), lp.output, lp.output_limits.low, lp.output_limits.high, fmt(lp.output, 1));
    faceNode.querySelector(".pvq").replaceChildren(...(q === "good" ? [] : [el("span.qmark", { text: q === "bad" ? "BAD" : "UNC" }),
      ` PV ${pv ? qualityReason(pv.quality) : "no value yet"}`]));
    faceNode.querySelector(".mode-now").textContent = lp.mode;
    faceNode.querySelector(".ff").textContent = lp.feedforward
      ? `Feedforward ${fmt(lp.feedforward.output, 1)} % · learnt ratio ${fmt(lp.feedforward.gain, 2)}` : "";
    const tc = lp.titration;
    const fit = tc?.last_fit;
    faceNode.querySelector(".tc").textContent = tc
      ? `Titration curve: ${tc.source} · buffering ${fmt(tc.slope_at_setpoint, 3)} mmol/L per pH at SP` +
        (fit ? ` · last fit ${fit.accepted ? "accepted" : "refused"}: ${fit.reason}` : "") : "";
    const sh = lp.setpoint_shift;
    const shifted = sh && lp.working_setpoint !== null && Math.abs(lp.working_setpoint - lp.setpoint) > 1e-6;
    faceNode.querySelector(".wsp").textContent = sh
      ? (shifted ? `Working setpoint ${fmt(lp.working_setpoint, dec)} ${lp.pv_unit} (shifted toward ${sh.limit}, ` +
          `margin ${fmt(sh.margin, 2)})` : `Working setpoint = setpoint`) + (sh.doubt ? ` · ${sh.doubt}` : "") : "";
    faceNode.querySelector(".interlocks").textContent = lp.interlocks.length ? `interlock: ${lp.interlocks.join(", ")}` : "";
    faceNode.querySelector(".at").textContent = fmtTime(lp.at);
    for (const b of modeButtons) b.setAttribute("aria-pressed", String(b.dataset.mode === lp.mode));
  };
  faceNode.update(loop);
  return faceNode;
}

export function mount(root, ctx) {
  const holder = el("div.faceplates");
  const status = el("p.status", { role: "status" });
  root.append(el("h1", { text: "Loops" }), status, holder);
  const plates = new Map();
  let timer = 0;
  const refresh = async () => {
    clearTimeout(timer);
    try {
      const loops = await api.get("/api/v1/loops");
      for (const lp of loops) {
        if (!plates.has(lp.name)) {
          const f = faceplate(lp, ctx, refresh);
          plates.set(lp.name, f);
          holder.append(f);
        }
        plates.get(lp.name).update(lp);
      }
      say(status, "");
    } catch (exc) {
      say(status, exc.message, "error");
    }
    if (timer !== -1) timer = setTimeout(refresh, REFRESH_MS);
  };
  refresh();
  return () => { clearTimeout(timer); timer = -1; };
}
