// Shift logbook: write a note (operator and above; audited), read and search the notes, newest first.

import { api, qs } from "../api.js";
import { debounce, el, fmtDateTime, say } from "../util.js";

export function noteRow(n) {
  return el("tr", { "data-note": n.id }, el("td.time", { text: fmtDateTime(n.ts) }), el("td", { text: n.author }),
    el("td.note-text", { text: n.text }));
}

export function notesTable(notes, label = "Logbook notes") {
  return el("table.grid.notes", { "aria-label": label },
    el("thead", {}, el("tr", {}, ["Time", "By", "Note"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, notes.map(noteRow)));
}

export function mount(root, ctx) {
  const canWrite = ctx.can("operator");
  const status = el("p.status", { role: "status", "aria-live": "polite", "data-testid": "logbook-status" });
  const text = el("textarea", { name: "text", rows: 3, maxlength: 4000, required: true, disabled: !canWrite,
                                "aria-label": "New note" });
  const search = el("input", { type: "search", name: "q", "aria-label": "Search notes", placeholder: "search text or author" });
  const list = el("div.notes-list");
  const listStatus = el("p.note", { role: "status", "data-testid": "logbook-count" });
  const load = async () => {
    try {
      const notes = await api.get(`/api/v1/logbook${qs({ q: search.value.trim(), limit: 200 })}`);
      list.replaceChildren(notesTable(notes));
      listStatus.textContent = `${notes.length} ${notes.length === 1 ? "note" : "notes"}${search.value.trim() ? ` matching “${search.value.trim()}”` : ""}`;
    } catch (exc) {
      say(listStatus, exc.message, "error");
    }
  };
  const form = el("form.logbook-form", { "aria-label": "Write a note" },
    el("label.block", {}, "New note", text),
    el("div.buttons", {}, el("button", { type: "submit", text: "Add note", disabled: !canWrite })),
    canWrite ? "" : el("p.note.readonly", { text: `Read-only: ${ctx.user.role} cannot write notes.` }), status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const note = await api.post("/api/v1/logbook", { text: text.value });
      say(status, `Note ${note.id} added at ${fmtDateTime(note.ts)}.`, "ok");
      text.value = "";
      await load();
    } catch (exc) {
      say(status, exc.message, "error"); // the API's refusal, word for word
    }
  });
  search.addEventListener("input", debounce(load, 250));
  root.append(el("h1", { text: "Shift logbook" }), form,
    el("div.toolbar", {}, el("label", {}, "Search ", search), el("a.button", { href: "#/handover", text: "Handover sheet" })),
    listStatus, list);
  load();
  return () => {};
}
