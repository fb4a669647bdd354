// Fleet: every remote site a fleet source hears (online/offline since when, last birth, data age, rates, replayed
// backlog, active alarms by priority), and a drill-down to one site's live values. ISA-101 calm: only an offline
// site, a stale one or an alarm draws the eye.

import { api } from "../api.js";
import { el, fmt, fmtDateTime, fmtTag, fmtTime, qualityClass, qualityReason } from "../util.js";

const POLL_MS = 2000;
const STALE_S = 10; // data older than this on an online site is shown as stale

function stateCell(s) {
  const stale = s.online && (s.data_age_s === null || s.data_age_s > STALE_S);
  const word = !s.online ? "OFFLINE" : stale ? "online, stale" : "online";
  return el("td", { "data-testid": "site-state" }, el(s.online && !stale ? "span" : "span.qmark", { text: word }),
    el("span.note", { text: s.since ? ` since ${fmtDateTime(s.since)}` : "" }));
}

function alarmsCell(s) {
  const counts = [1, 2, 3, 4].filter((p) => s.alarms_by_priority[p] > 0);
  if (!counts.length) return el("td.calm", { "data-testid": "site-alarms", text: "none" });
  return el("td", { "data-testid": "site-alarms" }, counts.map((p) =>
    el("span", { "data-alarm": `p${p}` }, el("span.alarm-marker", { text: String(p) }), ` ×${s.alarms_by_priority[p]} `)));
}

function siteRow(s) {
  return el("tr", { "data-site": s.site, "data-online": String(s.online), class: s.online ? "" : "offline" },
    el("th", { scope: "row" }, el("a", { href: `#/fleet?site=${encodeURIComponent(s.site)}`, text: s.site })),
    stateCell(s),
    el("td.time", { text: fmtDateTime(s.last_birth) }),
    el("td.num", { "data-testid": "site-age", text: s.data_age_s === null ? "—" : `${fmt(s.data_age_s, 1)} s` }),
    el("td.num", { text: fmt(s.messages_per_s, 1) }),
    el("td.num", { "data-testid": "site-rate", text: fmt(s.values_per_s, 1) }),
    el("td.num", { text: s.historical_per_s > 0 ? `${fmt(s.historical_per_s, 1)} /s (${s.historical_values})`
                                                  : `— (${s.historical_values})` }),
    el("td.num", { text: String(s.tags) }),
    alarmsCell(s),
    el("td.num", { text: `${s.births} / ${s.deaths} / ${s.seq_gaps}` }));
}

const HEAD = ["Site", "State", "Last birth", "Data age", "Messages/s", "Values/s", "Backlog replayed",
              "Tags", "Active alarms", "Births / deaths / seq gaps"];

function siteList(root) {
  const body = el("div", { "data-testid": "fleet-sites" }, el("p.note", { text: "loading…" }));
  root.append(el("div.toolbar", {}, el("h1", { text: "Fleet" })), body);
  let timer = 0;
  const load = async () => {
    try {
      const f = await api.get("/api/v1/fleet");
      if (!f.sources.length) {
        body.replaceChildren(el("p.note", { text: "This service has no fleet source (a sparkplug source in its plant file)." }));
      } else if (!f.sites.length) {
        body.replaceChildren(el("p.note", { text: `No site has been born yet on ${f.sources.join(", ")}.` }));
      } else {
        const online = f.sites.filter((s) => s.online).length;
        body.replaceChildren(
          el("p.note", { "data-testid": "fleet-summary", text: `${online} of ${f.sites.length} sites online · as of ${fmtTime(new Date().toISOString())} UTC` }),
          el("table.grid", {}, el("thead", {}, el("tr", {}, HEAD.map((h) => el("th", { scope: "col", text: h })))),
            el("tbody", {}, f.sites.map(siteRow))));
      }
      root.dataset.fleet = "ready";
    } catch (exc) {
      body.replaceChildren(el("p.error", { role: "alert", text: exc.message }));
    }
    timer = setTimeout(load, POLL_MS);
  };
  load();
  return () => clearTimeout(timer);
}

function siteValues(root, ctx, site) {
  const prefix = `${site}/`;
  const body = el("div", { "data-testid": "site-values" }, el("p.note", { text: "loading…" }));
  root.append(el("div.toolbar", {}, el("a.button", { href: "#/fleet", text: "← Fleet" }),
    el("h1", { text: `Site ${site}` })), body);
  const cells = new Map(); // tag → {value, quality, time}
  const paint = (tag) => {
    const c = cells.get(tag);
    const s = ctx.live.get(tag);
    if (!c) return;
    const meta = ctx.tags.get(tag);
    c.value.textContent = s ? fmtTag(s.value, meta) : "—";
    const q = s ? qualityClass(s.quality) : "bad";
    c.row.dataset.quality = q;
    c.quality.replaceChildren(q === "good" ? "Good" : el("span.qmark", { title: s?.quality?.reason || "", text: qualityReason(s?.quality) }));
    c.time.textContent = s ? fmtTime(s.ts) : "—";
  };
  let unsubscribe = () => {};
  (async () => {
    try {
      const tags = (await api.get("/api/v1/tags")).filter((t) => t.name.startsWith(prefix));
      for (const t of tags) ctx.tags.set(t.name, t); // trends and faceplates know a site's tags born after login
      if (!tags.length) {
        body.replaceChildren(el("p.note", { text: `No tag of ${site} is known (not born yet, or filtered by allow/deny).` }));
        return;
      }
      const rows = tags.map((t) => {
        const value = el("td.num.reading"), quality = el("td"), time = el("td.time");
        const row = el("tr", { "data-tag": t.name }, el("th", { scope: "row", text: t.name.slice(prefix.length) }),
          el("td.calm", { text: t.description }), value, el("td.unit", { text: t.unit }), quality, time,
          el("td", {}, el("a", { href: `#/trends?tags=${encodeURIComponent(t.name)}&range=1h`, text: "trend" })));
        cells.set(t.name, { row, value, quality, time });
        return row;
      });
      body.replaceChildren(el("table.grid", {}, el("thead", {}, el("tr", {}, ["Tag", "Description", "Value", "Unit",
        "Quality", "Time (UTC)", ""].map((h) => el("th", { scope: "col", text: h })))), el("tbody", {}, rows)));
      for (const tag of cells.keys()) paint(tag);
      unsubscribe = ctx.live.subscribe((batch) => { for (const tag of batch.keys()) if (cells.has(tag)) paint(tag); });
      root.dataset.fleet = "ready";
    } catch (exc) {
      body.replaceChildren(el("p.error", { role: "alert", text: exc.message }));
    }
  })();
  return () => unsubscribe();
}

export function mount(root, ctx, params) {
  const site = params.get("site");
  return site ? siteValues(root, ctx, site) : siteList(root);
}
