// Shift handover sheet: standing, shelved and out-of-service alarms, loops not in AUTO, overrides, instruments,
// electrodes out of a loop's vote
// not Good, notes of the shift — one printable page (print CSS hides the shell).

import { api, qs } from "../api.js";
import { el, fmt, fmtDateTime, fmtTag, PRIORITY, STATE_TEXT } from "../util.js";
import { notesTable } from "./logbook.js";

function section(title, testid, rows, empty, head, row) {
  return el("section.handover-part", { "data-testid": testid, "aria-label": title },
    el("h2", { text: `${title} (${rows.length})` }),
    rows.length ? el("table.grid", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, rows.map(row))) : el("p.note", { text: empty }));
}

function alarmRow(ctx) {
  return (a) => el("tr", { "data-alarm": a.name, class: `p${a.priority}${a.acked ? "" : " unacked"}` },
    el("td.prio", {}, el("span.marker", { text: String(a.priority) }), " ", PRIORITY[a.priority]),
    el("th", { scope: "row", text: a.name }), el("td", { text: a.message || `${a.tag} ${a.type}` }),
    el("td.num", { text: a.value === null ? "—" : `${fmtTag(a.value, ctx.tags.get(a.tag))} ${a.unit}` }),
    el("td", { text: STATE_TEXT[a.state] || a.state }),
    el("td", { text: a.shelve_reason || "" }), el("td.time", { text: fmtDateTime(a.shelved_until || a.active_since) }));
}

const ALARM_HEAD = ["Priority", "Alarm", "Message", "Value", "State", "Reason", "Since / until"];
const LOOP_HEAD = ["Loop", "Mode", "SP", "OUT %", "Interlocks", "Description"];
const loopRow = (lp) => el("tr", { "data-loop": lp.name }, el("th", { scope: "row", text: lp.name }),
  el("td", {}, el("span.mode-now", { text: lp.mode })), el("td.num", { text: `${fmt(lp.setpoint, lp.decimals)} ${lp.pv_unit}` }),
  el("td.num", { text: fmt(lp.output, 1) }), el("td", { text: lp.interlocks.join(", ") }), el("td.calm", { text: lp.description }));

export function mount(root, ctx, params) {
  const hours = Number(params.get("hours")) || 12;
  const body = el("div.handover", {}, el("p.note", { text: "loading…" }));
  const hoursSel = el("select", { name: "hours", "aria-label": "Shift length" },
    [8, 12, 24].map((h) => el("option", { value: h, selected: h === hours, text: `last ${h} h` })));
  hoursSel.addEventListener("change", () => { location.hash = `#/handover?hours=${hoursSel.value}`; });
  root.append(el("div.toolbar.no-print", {}, el("h1", { text: "Shift handover" }), el("label", {}, "Notes of the ", hoursSel),
    el("button", { type: "button", text: "Print…", onclick: () => window.print() }),
    el("a.button", { href: "#/logbook", text: "Logbook" })), body);
  (async () => {
    try {
      const h = await api.get(`/api/v1/handover${qs({ hours })}`);
      body.replaceChildren(
        el("h1.print-only", { text: "Shift handover" }),
        el("p.note", { "data-testid": "handover-at", text: `As of ${fmtDateTime(h.at)} · notes since ${fmtDateTime(h.since)} · by ${ctx.user.username}` }),
        section("Standing alarms", "handover-standing", h.standing_alarms, "No alarm standing.", ALARM_HEAD, alarmRow(ctx)),
        section("Shelved alarms", "handover-shelved", h.shelved_alarms, "No alarm shelved.", ALARM_HEAD, alarmRow(ctx)),
        section("Alarms out of service", "handover-oos", h.out_of_service_alarms, "No alarm out of service.", ALARM_HEAD, alarmRow(ctx)),
        section("Loops not in AUTO", "handover-loops", h.loops_not_in_auto, "Every loop in AUTO.", LOOP_HEAD, loopRow),
        section("Overrides (loop outputs in MAN)", "handover-overrides", h.overrides, "No manual override.", LOOP_HEAD, loopRow),
        section("Instruments not Good or out of service", "handover-instruments", h.instruments, "Every instrument Good.",
          ["Tag", "Description", "Value", "Quality", "Reason", "Since"],
          (i) => el("tr", { "data-tag": i.tag }, el("th", { scope: "row", text: i.tag }), el("td", { text: i.description }),
            el("td.num", { text: i.value === null ? "—" : `${fmtTag(i.value, ctx.tags.get(i.tag))} ${i.unit}` }),
            el("td", {}, el("span.qmark", { text: i.quality })), el("td", { text: i.reason }), el("td.time", { text: fmtDateTime(i.ts) }))),
        section("Electrodes out of a loop's vote", "handover-vote", h.electrodes_out_of_vote || [],
          "Every voted electrode in its vote.", ["Electrode", "Loop", "Why", "Detail"],
          (v) => el("tr", { "data-tag": v.tag }, el("th", { scope: "row", text: v.tag }), el("td", { text: v.loop }),
            el("td", {}, el("span.qmark", { text: v.fault })), el("td", { text: v.reason }))),
        el("section.handover-part", { "data-testid": "handover-notes", "aria-label": "Notes" },
          el("h2", { text: `Logbook notes (${h.notes.length})` }),
          h.notes.length ? notesTable(h.notes, "Notes of the shift") : el("p.note", { text: "No note this shift." })));
      root.dataset.handover = "ready";
    } catch (exc) {
      body.replaceChildren(el("p.error", { role: "alert", text: exc.message }));
    }
  })();
  return () => {};
}
