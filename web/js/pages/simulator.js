// Simulator bench (engineer, only against the simulated PLC): instrument faults, pump trips, scenarios.

import { api } from "../api.js";
import { el, fmt, fmtDateTime, say } from "../util.js";

const REFRESH_MS = 2000;

export function mount(root, ctx) {
  const status = el("p.status", { role: "status", "aria-live": "polite", "data-testid": "sim-status" });
  const clock = el("p.note");
  const sensors = el("tbody");
  const pumps = el("tbody");
  const scenarioSelect = el("select", { name: "scenario" });
  const scenarioNow = el("p", { "data-testid": "scenario" });
  let timer = 0;

  const act = async (method, path, body, done) => {
    try {
      await (method === "DELETE" ? api.del(path) : api.post(path, body));
      say(status, done, "ok");
    } catch (exc) {
      say(status, exc.message, "error");
    }
    refresh();
  };

  const render = (s) => {
    clock.textContent = `Simulated time ${fmtDateTime(s.sim_time)} · ×${s.speed} real time · OPC UA ${s.servers.opcua ? "up" : "down"} · Modbus ${s.servers.modbus ? "up" : "down"}`;
    sensors.replaceChildren(...s.sensors.map((x) => {
      const unit = ctx.tags.get(x.tag)?.unit || "";
      return el("tr", { "data-tag": x.tag, "data-fault": x.fault },
        el("th", { scope: "row", text: x.tag }), el("td", { text: ctx.tags.get(x.tag)?.description || "" }),
        el("td.num", { text: `${fmt(x.value, 2)} ${unit}` }), el("td", { text: x.status }), el("td", { text: x.fault }),
        el("td.actions", {},
          el("button", { type: "button", "aria-label": `Fail ${x.tag}`, text: "Fail", disabled: x.fault === "failed",
            onclick: () => act("POST", `/api/v1/simulator/sensors/${encodeURIComponent(x.tag)}`, { action: "fail" }, `${x.tag} failed`) }),
          el("button", { type: "button", "aria-label": `Stick ${x.tag}`, text: "Stick", disabled: x.fault !== "none",
            onclick: () => act("POST", `/api/v1/simulator/sensors/${encodeURIComponent(x.tag)}`, { action: "stuck" }, `${x.tag} stuck`) }),
          el("button", { type: "button", "aria-label": `Calibrate ${x.tag}`, text: "Calibrate", disabled: x.fault !== "none",
            onclick: () => act("POST", `/api/v1/simulator/sensors/${encodeURIComponent(x.tag)}`, { action: "calibrate" }, `${x.tag} calibrating`) }),
          el("button", { type: "button", "aria-label": `Recover ${x.tag}`, text: "Recover", disabled: x.fault === "none",
            onclick: () => act("POST", `/api/v1/simulator/sensors/${encodeURIComponent(x.tag)}`, { action: "recover" }, `${x.tag} recovered`) })));
    }));
    pumps.replaceChildren(...s.pumps.map((p) => el("tr", { "data-pump": p.name },
      el("th", { scope: "row", text: p.name }), el("td", { text: p.running ? "running" : "stopped" }),
      el("td", { text: p.tripped ? "TRIPPED" : "ok" }), el("td", { text: p.run_command ? "run" : "stop" }),
      el("td.num", { text: `${fmt(p.speed_setpoint_pct, 1)} %` }),
      el("td.actions", {},
        el("button", { type: "button", "aria-label": `Trip ${p.name}`, text: "Trip", disabled: p.tripped,
          onclick: () => act("POST", `/api/v1/simulator/pumps/${encodeURIComponent(p.name)}`, { action: "trip" }, `${p.name} tripped`) }),
        el("button", { type: "button", "aria-label": `Reset ${p.name}`, text: "Local reset", disabled: !p.tripped,
          onclick: () => act("POST", `/api/v1/simulator/pumps/${encodeURIComponent(p.name)}`, { action: "reset" }, `${p.name} reset`) })))));
    if (scenarioSelect.options.length !== s.scenarios.length) {
      scenarioSelect.replaceChildren(...s.scenarios.map((n) => el("option", { value: n, text: n })));
    }
    scenarioNow.textContent = s.scenario
      ? `Running: ${s.scenario.name} — ${s.scenario.description} (${s.scenario.events_applied}/${s.scenario.events_total} events applied)`
      : "No scenario started from the panel.";
  };

  const refresh = async () => {
    clearTimeout(timer);
    try {
      render(await api.get("/api/v1/simulator"));
    } catch (exc) {
      say(status, exc.message, "error");
    }
    if (timer !== -1) timer = setTimeout(refresh, REFRESH_MS);
  };

  root.append(
    el("h1", { text: "Simulator" }),
    el("p.note", { text: "Test bench of the simulated PLC. Every action is recorded in the audit trail." }),
    clock, status,
    el("section", { "aria-labelledby": "sim-sensors" }, el("h2", { id: "sim-sensors", text: "Instruments" }),
      el("table.grid", { "aria-label": "Simulated instruments" },
        el("thead", {}, el("tr", {}, ["Tag", "Description", "PLC reads", "Status", "Fault", ""].map((h) => el("th", { scope: "col", text: h })))),
        sensors)),
    el("section", { "aria-labelledby": "sim-pumps" }, el("h2", { id: "sim-pumps", text: "Dosing pumps" }),
      el("table.grid", { "aria-label": "Simulated pumps" },
        el("thead", {}, el("tr", {}, ["Pump", "State", "Protection", "Command", "Speed SP", ""].map((h) => el("th", { scope: "col", text: h })))),
        pumps)),
    el("section", { "aria-labelledby": "sim-scenario" }, el("h2", { id: "sim-scenario", text: "Scenario" }),
      el("form.filters", { "aria-label": "Run a scenario", onsubmit: (ev) => {
        ev.preventDefault();
        act("POST", "/api/v1/simulator/scenario", { name: scenarioSelect.value }, `scenario ${scenarioSelect.value} started`);
      } },
        el("label", {}, "Scenario file ", scenarioSelect), el("button", { type: "submit", text: "Run scenario" }),
        el("button.quiet", { type: "button", text: "Stop scenario",
          onclick: () => act("DELETE", "/api/v1/simulator/scenario", undefined, "scenario stopped") })),
      scenarioNow),
  );
  refresh();
  return () => { clearTimeout(timer); timer = -1; };
}
