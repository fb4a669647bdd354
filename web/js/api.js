// The panel's one path to the API: same-origin cookie session, CSRF header on writes, RFC 9457 problems as errors.

const CSRF_COOKIE = "plantctl_csrf";
const CSRF_KEY = "plantctl.csrf";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** The CSRF token: the login answer's (kept for this tab), else the readable plantctl_csrf cookie. */
function csrfToken() {
  const kept = sessionStorage.getItem(CSRF_KEY);
  if (kept) return kept;
  const m = document.cookie.split("; ").find((c) => c.startsWith(`${CSRF_COOKIE}=`));
  return m ? decodeURIComponent(m.slice(CSRF_COOKIE.length + 1)) : "";
}

export function rememberCsrf(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = csrfToken();
  let res;
  try {
    res = await fetch(path, { method, headers, credentials: "same-origin",
                              body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, { title: "Service unreachable", detail: `the service did not answer (${exc.message})` });
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const problem = typeof data === "object" && data ? data : { title: res.statusText, detail: String(data) };
    if (res.status === 401) window.dispatchEvent(new CustomEvent("plantctl:unauthenticated", { detail: problem }));
    throw new ApiError(res.status, problem);
  }
  return data;
}

export const api = {
  get: (p) => request("GET", p),
  post: (p, b = {}) => request("POST", p, b),
  put: (p, b = {}) => request("PUT", p, b),
  del: (p) => request("DELETE", p),
};

/** Query string from an object, skipping empty values; arrays repeat the key. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) u.append(k, String(item));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}
