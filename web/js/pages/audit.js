// Audit (engineer): who did what, when, from where, with old and new values; filtered and paged.

import { api, qs } from "../api.js";
import { el, fmtDateTime, say } from "../util.js";

/** An old/new value as a person reads it: "7.2 pH" for {value, unit} — to the target's precision (a tag's
 *  decimals, a loop's PV tag's), trailing zeros dropped, so a tracked setpoint never shows 7.509489059448242 —
 *  and "key: value, …" for other objects. */
function show(v, decimals) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "object") return String(v);
  if ("value" in v && "unit" in v && Object.keys(v).length === 2) {
    const n = typeof v.value === "number"
      ? String(Number(decimals === undefined ? v.value.toPrecision(6) : v.value.toFixed(decimals))) : v.value;
    return `${n} ${v.unit}`;
  }
  return Object.entries(v).map(([k, x]) => `${k}: ${typeof x === "object" && x !== null ? JSON.stringify(x) : x}`).join(", ");
}

export function mount(root, ctx) {
  const precision = new Map([...ctx.tags.values()].map((t) => [t.name, t.decimals]));
  const loopsKnown = api.get("/api/v1/loops").then((loops) => {
    for (const lp of loops) precision.set(lp.name, ctx.tags.get(lp.pv_tag)?.decimals);
  }).catch(() => { /* a service without loops: their targets keep 6 significant digits */ });
  const actor = el("input", { name: "actor", placeholder: "all" });
  const action = el("select", { name: "action" }, ["", "setpoint", "mode", "manual_output", "ack", "shelve", "unshelve",
    "login", "login_failed", "logout", "simulator", "user_create", "user_update", "token_create", "token_revoke"]
    .map((v) => el("option", { value: v, text: v || "all" })));
  const target = el("input", { name: "target", placeholder: "all" });
  const body = el("tbody");
  const status = el("p.status", { role: "status" });
  const more = el("button.quiet", { type: "button", text: "Older entries", hidden: true });
  let cursor = null;

  const load = async (append) => {
    try {
      await loopsKnown;
      const page = await api.get(`/api/v1/audit${qs({ actor: actor.value.trim(), action: action.value,
        target: target.value.trim(), limit: 100, cursor: append ? cursor : null })}`);
      const rows = page.entries.map((e) => el("tr", { "data-action": e.action, "data-target": e.target },
        el("td.time", { text: fmtDateTime(e.ts) }), el("td", { text: e.actor }), el("td", { text: e.action }),
        el("th", { scope: "row", text: e.target }), el("td.json.old", { text: show(e.old, precision.get(e.target)) }),
        el("td.json.new", { text: show(e.new, precision.get(e.target)) }),
        el("td", { text: e.source_address }), el("td.json", { text: show(e.detail) })));
      if (append) body.append(...rows);
      else body.replaceChildren(...rows);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      say(status, `${body.children.length} ${body.children.length === 1 ? "entry" : "entries"}`);
    } catch (exc) {
      say(status, exc.message, "error");
    }
  };
  more.addEventListener("click", () => load(true));
  root.append(
    el("h1", { text: "Audit trail" }),
    el("form.filters", { "aria-label": "Audit filters", onsubmit: (ev) => { ev.preventDefault(); load(false); } },
      el("label", {}, "User ", actor), el("label", {}, "Action ", action), el("label", {}, "Target ", target),
      el("button", { type: "submit", text: "Show" })),
    status,
    el("table.grid.audit", { "aria-label": "Audit entries" },
      el("thead", {}, el("tr", {}, ["Time (UTC)", "User", "Action", "Target", "Old", "New", "From", "Detail"].map((h) => el("th", { scope: "col", text: h })))),
      body),
    more,
  );
  load(false);
  return () => {};
}
