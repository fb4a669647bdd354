// Reports (viewer): the filed daily and monthly discharge reports, each a PDF and a CSV with its hash.

import { api } from "../api.js";
import { el, fmtDateTime, say } from "../util.js";

export function mount(root, ctx) {
  const body = el("tbody");
  const status = el("p.status", { role: "status" });
  const kind = el("select", { name: "kind" }, ["daily", "monthly"].map((v) => el("option", { value: v, text: v })));
  const period = el("input", { name: "period", placeholder: "YYYY-MM-DD or YYYY-MM", required: true,
    pattern: "\\d{4}-\\d{2}(-\\d{2})?", size: 12 });

  const load = async () => {
    try {
      const filed = await api.get("/api/v1/reports");
      body.replaceChildren(...filed.map((f) => el("tr", { "data-period": f.period, "data-format": f.format },
        el("th", { scope: "row", text: `${f.kind} ${f.period}` }),
        el("td", {}, el("a", { href: `/api/v1/reports/${f.kind}/${f.period}.${f.format}?revision=${f.revision}`,
          text: f.format.toUpperCase(), download: "" })),
        el("td.num", { text: String(f.revision) }),
        el("td.time", { text: fmtDateTime(f.generated_at) }),
        el("td", { text: f.generated_by }),
        el("td.hash", { text: f.sha256.slice(0, 16), title: f.sha256 }))));
      say(status, filed.length ? `${filed.length} filed` : "no report filed yet");
    } catch (exc) {
      say(status, exc.message, "error");
    }
  };

  const fileNow = el("form.filters", { "aria-label": "File a report now", hidden: !ctx.can("engineer"),
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const out = await api.post(`/api/v1/reports/${kind.value}/${period.value.trim()}`, {});
        say(status, out.map((f) => `${f.format} revision ${f.revision}`).join(", "));
        await load();
      } catch (exc) {
        say(status, exc.message, "error");
      }
    } },
    el("label", {}, "Kind ", kind), el("label", {}, "Period ", period),
    el("button", { type: "submit", text: "File now" }));

  root.append(
    el("h1", { text: "Discharge reports" }),
    el("p", { text: "Filed after local midnight; a filed report never changes. Late data adds a revision." }),
    fileNow,
    status,
    el("table.grid.reports", { "aria-label": "Filed reports" },
      el("thead", {}, el("tr", {}, ["Report", "File", "Revision", "Filed (UTC)", "By", "SHA-256"]
        .map((h) => el("th", { scope: "col", text: h })))),
      body),
  );
  load();
  return () => {};
}
