"""The panel and the API answer with headers that keep browsers from sniffing, framing, leaking or caching.

Checked on real responses of the whole service (uvicorn on loopback, TimescaleDB), for the panel page,
its own assets, the vendored chart library, an API answer and an error answer.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from api.routers.panel import NODE_MODULES
from tests.api.conftest import Session

WEB = Path(__file__).resolve().parents[2] / "web"


def csp(response: httpx.Response) -> dict[str, list[str]]:
    """The Content-Security-Policy as directive → sources."""
    header = response.headers.get("content-security-policy", "")
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_common(r: httpx.Response) -> None:
    assert r.headers.get("x-content-type-options") == "nosniff", r.url
    assert r.headers.get("x-frame-options") == "DENY", r.url
    assert r.headers.get("referrer-policy") == "no-referrer", r.url


def test_panel_page_allows_only_its_own_origin(running: tuple[str, Session]) -> None:
    base, _ = running
    r = httpx.get(f"{base}/", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert_common(r)
    policy = csp(r)
    assert policy.get("default-src") == ["'self'"]
    assert policy.get("script-src") == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert policy.get("style-src") == ["'self'"]
    assert policy.get("connect-src") == ["'self'"]  # the API and its live stream, nothing else
    assert policy.get("frame-ancestors") == ["'none'"]
    assert policy.get("object-src") == ["'none'"] and policy.get("base-uri") == ["'none'"]
    assert set(policy.get("img-src", [])) <= {"'self'", "data:"}


def test_every_asset_the_page_loads_is_same_origin_and_served_with_the_headers(running: tuple[str, Session]) -> None:
    """What the CSP allows must be enough: every src/href of the page is a path here (or the data: icon)."""
    base, _ = running
    page = httpx.get(f"{base}/", timeout=10).text
    refs = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert refs, "the page references no asset?"
    for ref in refs:
        if ref.startswith("data:"):
            continue
        assert ref.startswith("/") and not ref.startswith("//"), f"{ref} is not on this origin"
        if ref.startswith("/vendor/") and not NODE_MODULES.is_dir():
            continue
        r = httpx.get(f"{base}{ref}", timeout=10)
        assert r.status_code == 200, ref
        assert_common(r)
        assert csp(r).get("script-src") == ["'self'"], ref
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) + re.findall(r"\sstyle=", page)
    assert not inline, f"inline script/style the CSP would block: {inline}"


def test_no_inline_script_or_style_attribute_in_the_panel_sources() -> None:
    """The CSP forbids inline script and style attributes; the panel's HTML and JS must not rely on them."""
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.js")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""\sstyle=["']|setAttribute\(\s*["']style|\bon(click|load|error)=""", text), path
        assert "eval(" not in text and "new Function(" not in text, path


def test_api_answers_are_not_stored(running: tuple[str, Session]) -> None:
    base, session = running
    for r in (httpx.get(f"{base}/api/v1/tags", headers=session.bearer, timeout=10),
              httpx.get(f"{base}/api/v1/tags", timeout=10),  # refused: the error answer too
              httpx.get(f"{base}/api/v1/live", headers=session.bearer, timeout=10),
              httpx.get(f"{base}/healthz", timeout=10)):
        assert r.status_code in (200, 401), (r.url, r.status_code)
        assert r.headers.get("cache-control") == "no-store", r.url
        assert_common(r)
        assert csp(r).get("frame-ancestors") == ["'none'"], r.url


def test_session_cookie_is_httponly_secure_strict(running: tuple[str, Session]) -> None:
    base, session = running
    refused = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": "x" * 12}, timeout=10)
    assert refused.status_code == 401 and "set-cookie" not in refused.headers  # a refused login sets nothing
    ok = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": session.password}, timeout=10)
    assert ok.status_code == 200 and ok.headers.get("cache-control") == "no-store"
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith("plantctl_session="))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict"} <= flags, cookie
