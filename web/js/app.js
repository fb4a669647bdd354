// The panel shell: session, navigation by #/page, the live stream, the alarm banner on every page.

import { api, ApiError, rememberCsrf } from "./api.js";
import { LiveStore } from "./live.js";
import { AlarmWatch, renderBanner } from "./banner.js";
import { el } from "./util.js";

const ROLES = ["viewer", "operator", "engineer", "admin"];
const PAGES = {
  overview: () => import("./pages/overview.js"),
  process: () => import("./pages/process.js"),
  trends: () => import("./pages/trends.js"),
  alarms: () => import("./pages/alarms.js"),
  loops: () => import("./pages/loops.js"),
  audit: () => import("./pages/audit.js"),
  reports: () => import("./pages/reports.js"),
  logbook: () => import("./pages/logbook.js"),
  handover: () => import("./pages/handover.js"),
  oncall: () => import("./pages/oncall.js"),
  simulator: () => import("./pages/simulator.js"),
  fleet: () => import("./pages/fleet.js"),
};
const MIN_ROLE = { audit: "engineer", simulator: "engineer" };

const main = document.getElementById("main");
const topbar = document.querySelector(".topbar");
const banner = document.querySelector("[data-testid=alarm-banner]");
const linkState = document.querySelector("[data-testid=link-state]");

/** Everything a page may use; one per logged-in session. */
const ctx = {
  user: null,
  tags: new Map(),
  hasSimulator: false,
  live: null,
  alarms: null,
  can(role) {
    return this.user && ROLES.indexOf(this.user.role) >= ROLES.indexOf(role);
  },
};
window.plantctl = { ctx, api }; // for the browser tests and curious engineers at the console

let current = null; // {name, unmount}

function setLink(state) {
  linkState.textContent = { live: "live", reconnecting: "reconnecting…", lost: "link lost" }[state] || state;
  linkState.dataset.state = state;
}

function showLogin(message = "") {
  stopSession();
  topbar.hidden = true;
  banner.hidden = true;
  main.replaceChildren(document.getElementById("login-template").content.cloneNode(true));
  const form = main.querySelector("form");
  const error = form.querySelector(".error");
  error.textContent = message;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const data = new FormData(form);
    try {
      const out = await api.post("/api/v1/auth/login", { username: data.get("username"), password: data.get("password") });
      rememberCsrf(out.csrf_token);
      await startSession();
    } catch (exc) {
      error.textContent = exc instanceof ApiError ? exc.message : String(exc);
    }
  });
  form.querySelector("input").focus();
}

async function startSession() {
  const me = await api.get("/api/v1/auth/me");
  ctx.user = me;
  const tags = await api.get("/api/v1/tags");
  ctx.tags = new Map(tags.map((t) => [t.name, t]));
  ctx.hasSimulator = false;
  if (ctx.can("engineer")) {
    try {
      await api.get("/api/v1/simulator");
      ctx.hasSimulator = true;
    } catch { /* a real plant: no simulator bench */ }
  }
  topbar.hidden = false;
  document.querySelector("[data-testid=whoami]").textContent = `${me.username} (${me.role})`;
  for (const li of document.querySelectorAll("[data-min-role]")) {
    li.hidden = !ctx.can(li.dataset.minRole) || (li.dataset.needs === "simulator" && !ctx.hasSimulator);
  }
  try {
    const health = await api.get("/api/v1/health");
    document.querySelector("[data-testid=plant-name]").textContent = health.ready ? "" : "sources not all connected";
  } catch { /* shown by the pages */ }
  ctx.live = new LiveStore(setLink);
  ctx.live.start();
  ctx.alarms = new AlarmWatch((state) => renderBanner(banner, state));
  ctx.alarms.start();
  route();
}

function stopSession() {
  if (current) current.unmount?.();
  current = null;
  ctx.live?.stop();
  ctx.alarms?.stop();
  ctx.user = null;
}

async function route() {
  if (!ctx.user) return;
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  let name = path || "overview";
  if (!PAGES[name] || (MIN_ROLE[name] && !ctx.can(MIN_ROLE[name])) || (name === "simulator" && !ctx.hasSimulator)) {
    name = "overview";
  }
  for (const a of document.querySelectorAll(".nav a")) {
    if (a.getAttribute("href") === `#/${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (current) current.unmount?.();
  current = null;
  const root = el("div.page", { "data-page": name });
  let mod;
  try {
    mod = await PAGES[name]();
  } catch (exc) { // e.g. node_modules missing: the chart library is not served
    main.replaceChildren(root);
    root.append(el("h1", { text: name }), el("p.error", { role: "alert", text: `This page could not load: ${exc.message}` }));
    return;
  }
  main.replaceChildren(root);
  document.title = `${name[0].toUpperCase()}${name.slice(1)} — plantctl`;
  current = { name, unmount: mod.mount(root, ctx, new URLSearchParams(query)) };
}

document.querySelector("[data-action=logout]").addEventListener("click", async () => {
  try {
    await api.post("/api/v1/auth/logout");
  } catch { /* the session may be gone already */ }
  rememberCsrf("");
  showLogin("Logged out.");
});

window.addEventListener("hashchange", route);
window.addEventListener("plantctl:unauthenticated", () => {
  if (ctx.user) showLogin("Your session has ended; log in again.");
});

(async () => {
  try {
    await startSession();
  } catch (exc) {
    showLogin(exc instanceof ApiError && exc.status !== 401 ? exc.message : "");
  }
})();
