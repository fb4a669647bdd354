// Alarms (ISA-18.2): the annunciated list by priority and time, acknowledge, shelve, reset latched alarms,
// out of service / return to service (engineer, with a reason), and the journal with filters.

import { api, qs } from "../api.js";
import { dateToUtcInput, el, fmt, fmtDateTime, PRIORITY, say, STATE_TEXT, utcInputToDate } from "../util.js";

function stateText(a) {
  if (!a.latched) return STATE_TEXT[a.state] || a.state;
  return a.acked ? "latched, acknowledged: reset when ready" : "latched, unacknowledged";
}

function activeRow(a, canWrite, canEngineer, onAck, onShelve, onReset, onOutOfService) {
  return el("tr", { "data-alarm": a.name, "data-priority": a.priority, class: `${a.acked ? "" : "unacked"} p${a.priority}` },
    el("td.prio", {}, el("span.marker", { text: String(a.priority), title: PRIORITY[a.priority] }), " ", PRIORITY[a.priority]),
    el("th", { scope: "row", text: a.name }),
    el("td", { text: a.message || `${a.tag} ${a.type}` }),
    el("td.num", { text: a.value === null ? "—" : `${fmt(a.value, 2)} ${a.unit}` }),
    el("td.state", { "data-testid": "state", text: stateText(a) }),
    el("td.time", { text: fmtDateTime(a.active_since) }),
    el("td.actions", {},
      canWrite && !a.acked ? el("button", { type: "button", onclick: () => onAck(a), "aria-label": `Acknowledge ${a.name}`, text: "Ack" }) : "",
      canWrite && a.latched && a.acked ? el("button", { type: "button", onclick: () => onReset(a), "aria-label": `Reset ${a.name}`, text: "Reset" }) : "",
      canWrite ? el("button.quiet", { type: "button", onclick: () => onShelve(a), "aria-label": `Shelve ${a.name}`, text: "Shelve…" }) : "",
      canEngineer ? el("button.quiet", { type: "button", onclick: () => onOutOfService(a.name), "aria-label": `Take ${a.name} out of service`, text: "Out of service…" }) : ""),
  );
}

export function mount(root, ctx) {
  const canWrite = ctx.can("operator");
  const canEngineer = ctx.can("engineer");
  const status = el("p.status", { role: "status", "aria-live": "polite" });
  const comment = el("input", { name: "comment", maxlength: 500, placeholder: "e.g. electrode being replaced" });
  const body = el("tbody");
  const shelved = el("tbody");
  const dialog = el("dialog.shelve", { "aria-labelledby": "shelve-title" });

  const ack = async (names) => {
    const results = [];
    for (const name of names) {
      try {
        await api.post(`/api/v1/alarms/${encodeURIComponent(name)}/ack`, { comment: comment.value });
        results.push(`${name} acknowledged`);
      } catch (exc) {
        results.push(`${name}: ${exc.message}`);
        say(status, results.join("; "), "error");
        await ctx.alarms.refresh();
        return;
      }
    }
    say(status, results.join("; "), "ok");
    await ctx.alarms.refresh();
    setTimeout(loadHistory, 1500); // the journal is written in the background
  };

  const shelve = (a) => {
    const reason = el("input", { name: "reason", required: true, maxlength: 500 });
    const duration = el("select", { name: "duration" },
      [["900", "15 min"], ["1800", "30 min"], ["3600", "1 h"], ["14400", "4 h"], ["28800", "8 h (one shift)"], ["", "until it returns to normal"]]
        .map(([v, t]) => el("option", { value: v, text: t })));
    const err = el("p.error", { role: "alert" });
    const form = el("form", { method: "dialog" },
      el("h2", { id: "shelve-title", text: `Shelve ${a.name}` }),
      el("p", { text: "A shelved alarm is not annunciated until it is unshelved or its time runs out (ISA-18.2 §10.2)." }),
      el("label", {}, "Reason ", reason), el("label", {}, "Duration ", duration), err,
      el("div.buttons", {}, el("button", { type: "submit", value: "shelve", text: "Shelve" }),
        el("button.quiet", { type: "button", onclick: () => dialog.close(), text: "Cancel" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api.post(`/api/v1/alarms/${encodeURIComponent(a.name)}/shelve`,
          { reason: reason.value, duration_s: duration.value ? Number(duration.value) : null });
        dialog.close();
        say(status, `${a.name} shelved: ${reason.value}`, "ok");
        await ctx.alarms.refresh();
        await loadShelved();
        setTimeout(loadHistory, 1500);
      } catch (exc) {
        err.textContent = exc.message;
      }
    });
    dialog.replaceChildren(form);
    dialog.showModal();
    reason.focus();
  };

  const reset = async (a) => {
    try {
      await api.post(`/api/v1/alarms/${encodeURIComponent(a.name)}/reset`, { comment: comment.value });
      say(status, `${a.name} reset`, "ok");
    } catch (exc) {
      say(status, `${a.name}: ${exc.message}`, "error");
    }
    await ctx.alarms.refresh();
    setTimeout(loadHistory, 1500);
  };

  // Out of service / return to service: an engineer's decision, always with a reason (audited).
  const serviceChange = (name, out) => {
    const verb = out ? "Take out of service" : "Return to service";
    const reason = el("input", { name: "reason", required: true, maxlength: 500 });
    const err = el("p.error", { role: "alert" });
    const form = el("form", { method: "dialog" },
      el("h2", { id: "shelve-title", text: `${verb}: ${name}` }),
      el("p", { text: out ? "An alarm out of service is not evaluated or annunciated until it is returned (ISA-18.2 §10.4)."
        : "The alarm is evaluated and annunciated again from now." }),
      el("label", {}, "Reason ", reason), err,
      el("div.buttons", {}, el("button", { type: "submit", text: verb }),
        el("button.quiet", { type: "button", onclick: () => dialog.close(), text: "Cancel" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api.post(`/api/v1/alarms/${encodeURIComponent(name)}/${out ? "out-of-service" : "return-to-service"}`,
          { reason: reason.value });
        dialog.close();
        say(status, `${name} ${out ? "out of service" : "returned to service"}: ${reason.value}`, "ok");
        await ctx.alarms.refresh();
        await loadShelved();
        setTimeout(loadHistory, 1500);
      } catch (exc) {
        err.textContent = exc.message;
      }
    });
    dialog.replaceChildren(form);
    dialog.showModal();
    reason.focus();
  };

  const oos = el("tbody");
  const oosPick = el("select", { name: "alarm", "aria-label": "Alarm to take out of service" });
  const oosForm = el("form.filters", { "aria-label": "Take an alarm out of service", hidden: !canEngineer,
    onsubmit: (ev) => { ev.preventDefault(); if (oosPick.value) serviceChange(oosPick.value, true); } },
    el("label", {}, "Alarm ", oosPick), el("button", { type: "submit", text: "Out of service…" }));

  const loadShelved = async () => {
    try {
      const all = await api.get("/api/v1/alarms?all=true");
      const out = all.filter((a) => a.state === "OOSRV");
      oos.replaceChildren(...(out.length ? out.map((a) => el("tr", { "data-alarm": a.name },
        el("th", { scope: "row", text: a.name }), el("td", { text: a.message || `${a.tag} ${a.type}` }),
        el("td", {}, canEngineer ? el("button.quiet", { type: "button", text: "Return to service…",
          "aria-label": `Return ${a.name} to service`, onclick: () => serviceChange(a.name, false) }) : "")))
        : [el("tr", {}, el("td", { colspan: 3, text: "No alarm out of service." }))]));
      oosPick.replaceChildren(...all.filter((a) => a.state !== "OOSRV").map((a) => el("option", { value: a.name, text: a.name })));
      const rows = all.filter((a) => a.state === "SHLVD");
      shelved.replaceChildren(...(rows.length ? rows.map((a) => el("tr", { "data-alarm": a.name },
        el("th", { scope: "row", text: a.name }), el("td", { text: a.shelve_reason }),
        el("td", { text: a.shelved_until ? fmtDateTime(a.shelved_until) : "until normal" }),
        el("td", {}, canWrite ? el("button.quiet", { type: "button", text: "Unshelve", "aria-label": `Unshelve ${a.name}`,
          onclick: async () => {
            try {
              await api.post(`/api/v1/alarms/${encodeURIComponent(a.name)}/unshelve`, { comment: "" });
              say(status, `${a.name} unshelved`, "ok");
            } catch (exc) { say(status, exc.message, "error"); }
            await ctx.alarms.refresh();
            await loadShelved();
          } }) : ""))) : [el("tr", {}, el("td", { colspan: 4, text: "No shelved alarm." }))]));
    } catch (exc) {
      shelved.replaceChildren(el("tr", {}, el("td", { colspan: 4, text: exc.message })));
    }
  };

  const ackPage = el("button", { type: "button", text: "Acknowledge all on this page", hidden: !canWrite,
    onclick: () => ack(ctx.alarms.list.filter((a) => !a.acked).map((a) => a.name)) });

  // --- history ---------------------------------------------------------------------------------
  const now = new Date();
  const hStart = el("input", { type: "datetime-local", name: "start", value: dateToUtcInput(new Date(now - 86400e3)) });
  const hEnd = el("input", { type: "datetime-local", name: "end", value: "" });
  const hAlarm = el("input", { name: "alarm", placeholder: "all", list: "alarm-names" });
  const hUser = el("input", { name: "user", placeholder: "all" });
  const hEvent = el("select", { name: "event" }, ["", "activate", "clear", "re_alarm", "ack", "reset", "shelve", "unshelve", "shelve_expired", "suppress", "unsuppress", "out_of_service", "in_service"]
    .map((v) => el("option", { value: v, text: v || "all" })));
  const hBody = el("tbody");
  const hStatus = el("p.status", { role: "status" });
  const loadHistory = async (ev) => {
    ev?.preventDefault();
    try {
      const start = utcInputToDate(hStart.value);
      const end = utcInputToDate(hEnd.value);
      const rows = await api.get(`/api/v1/alarms/history${qs({ start: start?.toISOString(), end: end?.toISOString(), alarm: hAlarm.value.trim(), limit: 2000 })}`);
      const shown = rows.filter((r) => (!hUser.value || r.user === hUser.value.trim()) && (!hEvent.value || r.event === hEvent.value)).reverse();
      hBody.replaceChildren(...shown.slice(0, 500).map((r) => el("tr", { class: `p${r.priority}` },
        el("td.time", { text: fmtDateTime(r.ts) }), el("th", { scope: "row", text: r.alarm }), el("td", { text: r.event }),
        el("td", { text: `${r.old_state} → ${r.new_state}` }), el("td.num", { text: r.value === null ? "" : `${fmt(r.value, 2)} ${r.unit}` }),
        el("td", { text: r.user }), el("td", { text: r.comment }))));
      say(hStatus, `${shown.length} journal ${shown.length === 1 ? "entry" : "entries"}${shown.length > 500 ? " (newest 500 shown)" : ""}`);
    } catch (exc) {
      say(hStatus, exc.message, "error");
    }
  };

  root.append(
    el("h1", { text: "Alarms" }),
    el("section", { "aria-labelledby": "active-title" },
      el("div.toolbar", {}, el("h2", { id: "active-title", text: "Active" }),
        canWrite ? el("label", {}, "Comment for acknowledgement ", comment) : el("span.note", { text: "Read-only: your role cannot acknowledge." }),
        ackPage),
      status,
      el("table.grid.alarms", { "aria-label": "Active alarms" },
        el("thead", {}, el("tr", {}, ["Priority", "Alarm", "Message", "Value", "State", "Since (UTC)", ""].map((h) => el("th", { scope: "col", text: h })))),
        body)),
    el("section", { "aria-labelledby": "shelved-title" }, el("h2", { id: "shelved-title", text: "Shelved" }),
      el("table.grid", { "aria-label": "Shelved alarms" },
        el("thead", {}, el("tr", {}, ["Alarm", "Reason", "Until", ""].map((h) => el("th", { scope: "col", text: h })))), shelved)),
    el("section", { "aria-labelledby": "oos-title" }, el("h2", { id: "oos-title", text: "Out of service" }),
      oosForm,
      el("table.grid", { "aria-label": "Alarms out of service" },
        el("thead", {}, el("tr", {}, ["Alarm", "Message", ""].map((h) => el("th", { scope: "col", text: h })))), oos)),
    el("section", { "aria-labelledby": "history-title" }, el("h2", { id: "history-title", text: "History" }),
      el("form.filters", { onsubmit: loadHistory, "aria-label": "History filters" },
        el("label", {}, "From (UTC) ", hStart), el("label", {}, "To (UTC) ", hEnd), el("label", {}, "Alarm ", hAlarm),
        el("label", {}, "Event ", hEvent), el("label", {}, "User ", hUser), el("button", { type: "submit", text: "Show history" })),
      hStatus,
      el("table.grid", { "aria-label": "Alarm history" },
        el("thead", {}, el("tr", {}, ["Time (UTC)", "Alarm", "Event", "State", "Value", "User", "Comment"].map((h) => el("th", { scope: "col", text: h })))),
        hBody)),
    dialog,
  );

  const un = ctx.alarms.subscribe((w) => {
    ackPage.disabled = !w.list.some((a) => !a.acked);
    body.replaceChildren(...(w.list.length ? w.list.map((a) => activeRow(a, canWrite, canEngineer, (x) => ack([x.name]), shelve, reset,
      (name) => serviceChange(name, true)))
      : [el("tr", {}, el("td", { colspan: 7, class: "calm", text: "No active alarm." }))]));
  });
  loadShelved();
  loadHistory();
  return un;
}
