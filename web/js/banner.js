// The annunciated alarms, polled (the API has no alarm push yet), and the banner that shows the most important one.

import { api } from "./api.js";
import { el, fmtTag, fmtTime, PRIORITY, STATE_TEXT } from "./util.js";

export const POLL_MS = 2000;

/** Most important first: priority 1 before 4, unacknowledged before acknowledged, newest first. */
export function byImportance(a, b) {
  return a.priority - b.priority || Number(a.acked) - Number(b.acked)
    || String(b.active_since || "").localeCompare(String(a.active_since || ""));
}

export class AlarmWatch {
  constructor(onChange) {
    this.list = [];
    this.error = "";
    this.listeners = new Set([onChange]);
    this.timer = 0;
  }

  start() {
    const tick = async () => {
      await this.refresh();
      this.timer = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = -1;
  }

  async refresh() {
    try {
      this.list = (await api.get("/api/v1/alarms")).sort(byImportance);
      this.error = "";
    } catch (exc) {
      this.error = exc.message;
    }
    for (const fn of this.listeners) fn(this);
  }

  subscribe(fn) {
    this.listeners.add(fn);
    fn(this);
    return () => this.listeners.delete(fn);
  }

  /** Annunciated alarms of one tag, most important first. */
  forTag(tag) {
    return this.list.filter((a) => a.tag === tag);
  }
}

export function renderBanner(node, watch) {
  const unacked = watch.list.filter((a) => !a.acked).length;
  const count = document.querySelector("[data-testid=unacked-count]");
  count.textContent = unacked ? String(unacked) : "";
  count.hidden = !unacked;
  if (watch.error) {
    node.hidden = false;
    node.className = "banner stale";
    node.replaceChildren(el("span", { text: `Alarm list not updated: ${watch.error}` }));
    return;
  }
  const top = watch.list[0];
  if (!top) {
    node.hidden = true;
    node.replaceChildren();
    return;
  }
  node.hidden = false;
  node.className = `banner p${top.priority}${top.acked ? "" : " unacked"}`;
  const value = top.value === null ? "" : `${fmtTag(top.value, window.plantctl?.ctx.tags.get(top.tag))} ${top.unit}`;
  node.replaceChildren(
    el("span.marker", { "aria-hidden": "true" }, String(top.priority)),
    el("span.what", {}, el("strong", { text: top.name }), " ", top.message || `${top.tag} ${top.type}`),
    el("span.value", { text: value }),
    el("span.state", { text: `${PRIORITY[top.priority]} · ${STATE_TEXT[top.state] || top.state}`
      + (top.active_since ? ` · since ${fmtTime(top.active_since)}` : "") }),
    el("span.more", { text: watch.list.length > 1 ? `+${watch.list.length - 1} more` : "" }),
    el("a", { href: "#/alarms", text: "Open alarm list" }),
  );
}
