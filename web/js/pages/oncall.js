// On call: who is paged now, the schedule, the rotations and overrides, the escalation pipelines, time to acknowledge, channel health,
// and the notification log of one alarm (#/oncall?alarm=AIT-101.HH).

import { api, ApiError, qs } from "../api.js";
import { el, fmtDateTime, say, utcInputToDate } from "../util.js";

const secs = (s) => (s === null || s === undefined ? "—" : s < 120 ? `${Math.round(s)} s` : `${(s / 60).toFixed(1)} min`);

function table(label, headers, rows) {
  return el("table.grid", { "aria-label": label },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows));
}

/** Overrides: the plant file's (read-only here) and the panel's; an engineer adds and removes the panel's. */
function overridesSection(ctx, oc, reload, status) {
  const section = el("section", { "aria-label": "Overrides" }, el("h2", { text: "Overrides" }));
  const body = el("tbody");
  const load = async () => {
    const list = await api.get("/api/v1/notify/overrides");
    body.replaceChildren(...list.map((o) => el("tr", { "data-source": o.source },
      el("td", { text: o.rotation }), el("td", { text: o.person }), el("td.time", { text: fmtDateTime(o.start) }),
      el("td.time", { text: fmtDateTime(o.end) }), el("td", { text: o.reason }),
      el("td", { text: o.source === "panel" ? `panel (${o.created_by})` : "plant file" }),
      el("td", {}, o.id !== null && ctx.can("engineer") ? el("button.quiet", { type: "button", text: "Remove",
        onclick: async () => {
          try { await api.del(`/api/v1/notify/overrides/${o.id}`); await reload(); } catch (exc) { say(status, exc.message, "error"); }
        } }) : ""))));
  };
  section.append(table("Overrides", ["Rotation", "Person", "From", "To", "Reason", "Made in", ""], body));
  if (ctx.can("engineer")) {
    const rotation = el("select", { name: "rotation" }, oc.now.map((s) => el("option", { value: s.rotation, text: s.rotation })));
    const person = el("select", { name: "person" }, oc.people.map((p) => el("option", { value: p.name, text: p.name })));
    const start = el("input", { name: "start", type: "datetime-local", required: true });
    const end = el("input", { name: "end", type: "datetime-local", required: true });
    const reason = el("input", { name: "reason", placeholder: "holiday, swap…" });
    section.append(el("form.filters", { "aria-label": "Add an override", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api.post("/api/v1/notify/overrides", { rotation: rotation.value, person: person.value,
          start: utcInputToDate(start.value).toISOString(), end: utcInputToDate(end.value).toISOString(), reason: reason.value });
        await reload();
        say(status, "Override saved.");
      } catch (exc) { say(status, exc.message, "error"); }
    } }, el("label", {}, "Rotation ", rotation), el("label", {}, "Person ", person), el("label", {}, "From (UTC) ", start),
      el("label", {}, "To (UTC) ", end), el("label", {}, "Reason ", reason), el("button", { type: "submit", text: "Add override" })));
  }
  return { section, load };
}

/** Rotations in force: the panel's (an engineer edits it here, or goes back to the plant file's) or the file's. */
function rotationsSection(ctx, oc, reload, status) {
  const section = el("section", { "aria-label": "Rotations" }, el("h2", { text: "Rotations" }));
  const load = async () => {
    const list = await api.get("/api/v1/notify/rotations");
    const rows = list.map((r) => el("tr", { "data-rotation": r.name, "data-source": r.source },
      el("th", { scope: "row", text: r.name }), el("td", { text: r.people.join(" → ") }),
      el("td", { text: `${r.start}, ${r.handover_time.slice(0, 5)}, every ${r.period_days} d` }),
      el("td", { "data-testid": `rotation-source-${r.name}`,
        text: r.source === "panel" ? `panel (${r.changed_by}, ${fmtDateTime(r.changed_at)})` : "plant file" }),
      el("td", {}, r.source === "panel" && ctx.can("engineer") ? el("button.quiet", { type: "button",
        text: "Back to plant file", onclick: async () => {
          try { await api.del(`/api/v1/notify/rotations/${encodeURIComponent(r.name)}`); await reload(); say(status, `Rotation ${r.name} follows the plant file again.`); }
          catch (exc) { say(status, exc.message, "error"); }
        } }) : "")));
    section.replaceChildren(el("h2", { text: "Rotations" }),
      table("Rotations", ["Rotation", "People in turn", "First handover, time, period", "Set in", ""], rows));
    if (!ctx.can("engineer") || !list.length) return;
    const rotation = el("select", { name: "rotation" }, list.map((r) => el("option", { value: r.name, text: r.name })));
    const people = el("input", { name: "people", required: true, placeholder: oc.people.map((p) => p.name).join(", "),
      title: `comma-separated, in turn; known: ${oc.people.map((p) => p.name).join(", ")}` });
    const start = el("input", { name: "start", type: "date", required: true });
    const handover = el("input", { name: "handover", type: "time", required: true });
    const period = el("input", { name: "period", type: "number", min: "1", max: "56", required: true });
    const fill = () => {
      const r = list.find((x) => x.name === rotation.value);
      people.value = r.people.join(", "); start.value = r.start; handover.value = r.handover_time.slice(0, 5);
      period.value = String(r.period_days);
    };
    rotation.addEventListener("change", fill);
    fill();
    section.append(el("form.filters", { "aria-label": "Edit a rotation", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api.put(`/api/v1/notify/rotations/${encodeURIComponent(rotation.value)}`, {
          people: people.value.split(",").map((p) => p.trim()).filter(Boolean), start: start.value,
          handover_time: handover.value, period_days: Number(period.value) });
        await reload();
        say(status, "Rotation saved.");
      } catch (exc) { say(status, exc.message, "error"); }
    } }, el("label", {}, "Rotation ", rotation), el("label", {}, "People in turn ", people),
      el("label", {}, `First handover (${oc.timezone}) `, start), el("label", {}, "Handover time ", handover),
      el("label", {}, "Period (days) ", period), el("button", { type: "submit", text: "Save rotation" })));
  };
  return { section, load };
}

export function mount(root, ctx, params) {
  const status = el("p.status", { role: "status" });
  const now = el("section", { "aria-label": "On call now" });
  const schedule = el("section", { "aria-label": "Schedule" });
  const pipelines = el("section", { "aria-label": "Escalation" });
  const kpis = el("section", { "aria-label": "Time to acknowledge" });
  const channels = el("section", { "aria-label": "Channels" });
  const overrides = el("div");
  const rotationsBox = el("div");
  const alarm = el("input", { name: "alarm", placeholder: "AIT-101.HH", value: params.get("alarm") || "" });
  const log = el("section", { "aria-label": "Notification log", "data-testid": "notify-log" });

  const loadLog = async () => {
    const name = alarm.value.trim();
    if (!name) { log.replaceChildren(); return; }
    try {
      const out = await api.get(`/api/v1/notify/log${qs({ alarm: name })}`);
      log.replaceChildren(
        table(`Incidents of ${name}`, ["Raised", "Pipeline", "Paged", "Closed", "How", "By"],
          out.incidents.map((i) => el("tr", {},
            el("td.time", { text: fmtDateTime(i.raised_at) }), el("td", { text: i.pipeline }),
            el("td", { text: i.notified.join(", ") }), el("td.time", { text: fmtDateTime(i.closed_at) }),
            el("td", { text: i.close_reason === "ack" ? `acknowledged (${i.acked_via})` : (i.close_reason || "open") }),
            el("td", { text: i.acked_by || "" })))),
        table(`Messages naming ${name}`, ["Created", "To", "Channel", "Kind", "Status", "Attempts", "Delivered", "Last error"],
          out.messages.map((m) => el("tr", { "data-status": m.status },
            el("td.time", { text: fmtDateTime(m.created) }), el("td", { text: m.recipient }), el("td", { text: m.channel }),
            el("td", { text: m.kind }), el("td", { text: m.status + (m.escalated ? " (escalated)" : "") }),
            el("td", { text: String(m.attempts) }), el("td.time", { text: fmtDateTime(m.sent_at) }),
            el("td", { text: m.last_error })))));
    } catch (exc) {
      say(status, exc.message, "error");
    }
  };

  const load = async () => {
    try {
      const oc = await api.get("/api/v1/notify/oncall");
      now.replaceChildren(el("h2", { text: `On call now (${oc.timezone})` }),
        table("On call now", ["Rotation", "Person", "Until"], oc.now.map((s) => el("tr", { "data-rotation": s.rotation },
          el("th", { scope: "row", text: s.rotation }), el("td", { "data-testid": `oncall-${s.rotation}`, text: s.person + (s.override ? " (override)" : "") }),
          el("td.time", { text: fmtDateTime(s.end) })))));
      schedule.replaceChildren(el("h2", { text: "Schedule" }),
        table("Schedule", ["Rotation", "Person", "From", "To", "Note"], oc.schedule.map((s) => el("tr", {},
          el("td", { text: s.rotation }), el("td", { text: s.person }), el("td.time", { text: fmtDateTime(s.start) }),
          el("td.time", { text: fmtDateTime(s.end) }), el("td", { text: s.override ? `override: ${s.reason}` : "" })))));
      pipelines.replaceChildren(el("h2", { text: "Escalation" }),
        table("Escalation", ["Pipeline", "Priorities", "Alarms", "Steps"], oc.pipelines.map((p) => el("tr", {},
          el("th", { scope: "row", text: p.name }), el("td", { text: p.priorities.join(", ") }),
          el("td", { text: p.alarms.join(", ") }), el("td", {}, el("ol", {}, p.steps.map((s) => el("li", { text: s }))))))));
      const rot = rotationsSection(ctx, oc, load, status);
      rotationsBox.replaceChildren(rot.section);
      await rot.load();
      const ov = overridesSection(ctx, oc, load, status);
      overrides.replaceChildren(ov.section);
      await ov.load();
      const times = await api.get("/api/v1/notify/kpis");
      kpis.replaceChildren(el("h2", { text: "Time to acknowledge (30 days)" }),
        table("Time to acknowledge", ["Priority", "Acknowledged", "Median", "90th percentile", "Longest"],
          times.map((t) => el("tr", { "data-priority": t.priority ?? "all" },
            el("th", { scope: "row", text: t.priority === null ? "all" : `P${t.priority}` }),
            el("td", { text: String(t.acknowledged) }), el("td", { text: secs(t.median_s) }),
            el("td", { text: secs(t.p90_s) }), el("td", { text: secs(t.max_s) })))));
      const st = await api.get("/api/v1/notify/status");
      const failing = st.channels.filter((c) => c.failing);
      channels.replaceChildren(el("h2", { text: "Channels" }),
        failing.length ? el("p.error", { role: "alert", text: `Failing: ${failing.map((c) => `${c.channel} since ${fmtDateTime(c.failing_since)} (${c.last_error})`).join("; ")}` }) : "",
        el("p", { text: `Outbox: ${Object.entries(st.outbox).map(([k, v]) => `${v} ${k}`).join(", ") || "empty"}` }));
      say(status, "");
    } catch (exc) {
      const off = exc instanceof ApiError && [404, 503].includes(exc.status);
      say(status, off ? "Notifications are not configured for this plant (docs/notifications.md)." : exc.message,
        off ? "info" : "error");
    }
  };

  const token = params.get("ack");
  const ackBox = token ? el("section.card", { "aria-label": "Acknowledge from a message" },
    el("p", { text: "You followed the acknowledge link of a notification. Acknowledge the alarm as yourself?" }),
    el("button", { type: "button", "data-testid": "confirm-ack", text: "Acknowledge", onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        const out = await api.post(`/api/v1/notify/ack/${encodeURIComponent(token)}`);
        say(status, `${out.alarm} acknowledged by ${out.user} (from the ${out.channel} notification).`);
        alarm.value = out.alarm;
        loadLog();
      } catch (exc) {
        say(status, exc.message, "error");
      }
    } })) : "";
  root.append(el("h1", { text: "On call" }), ackBox, status, now, schedule, rotationsBox, overrides, pipelines, kpis, channels,
    el("h2", { text: "Notification log" }),
    el("form.filters", { "aria-label": "Notification log filter", onsubmit: (ev) => { ev.preventDefault(); loadLog(); } },
      el("label", {}, "Alarm ", alarm), el("button", { type: "submit", text: "Show" })),
    log);
  load();
  loadLog();
  return () => {};
}
