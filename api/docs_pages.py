"""The API's interactive docs from our own pinned Swagger UI (npm swagger-ui-dist, package-lock.json), behind
login, under the same CSP as the panel: no CDN, no inline script; /openapi.json needs a viewer too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from api.auth.deps import Viewer
from api.errors import problem_responses
from api.routers.panel import NODE_MODULES

SWAGGER_DIR = NODE_MODULES / "swagger-ui-dist"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plantctl API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script></body></html>
"""
# Same-origin fetch of /openapi.json carries the session cookie; "try it out" sends the CSRF header from the cookie.
_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  requestInterceptor: (req) => {
    const m = document.cookie.match(/(?:^|; )plantctl_csrf=([^;]+)/);
    if (m) { req.headers["X-CSRF-Token"] = decodeURIComponent(m[1]); }
    return req;
  },
});
"""


def docs_router(app: FastAPI, swagger_dir: Path = SWAGGER_DIR) -> APIRouter:
    """/docs, its assets and /openapi.json, each for a logged-in viewer or above."""
    router = APIRouter(include_in_schema=False, responses=problem_responses(401, 403))
    present = {name for name in ASSETS if (swagger_dir / name).is_file()}
    missing = "" if present else " (the swagger-ui-dist package is missing: run `npm ci`)"

    @router.get("/openapi.json")
    async def openapi(_user: Viewer) -> JSONResponse:
        spec: dict[str, Any] = app.openapi()
        return JSONResponse(spec)

    @router.get("/docs")
    async def docs(_user: Viewer) -> HTMLResponse:
        return HTMLResponse(_PAGE)

    @router.get("/docs/assets/{name}")
    async def asset(name: str, _user: Viewer) -> Response:
        if name == "init.js":
            return Response(_INIT, media_type="text/javascript")
        if name not in present:
            raise HTTPException(404, f"no docs asset {name!r}{missing}")
        return FileResponse(swagger_dir / name, media_type=ASSETS[name])

    return router
