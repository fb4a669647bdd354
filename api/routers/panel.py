"""The operator panel: web/ (plain ES modules, no build step) and its npm assets, served after every API route."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
WEB_DIR = REPO / "web"
NODE_MODULES = REPO / "node_modules"
# URL prefix → directory inside node_modules (installed by `npm ci` from package-lock.json)
VENDOR = {"/vendor/uplot": "uplot/dist"}


def panel_router(web_dir: Path = WEB_DIR, node_modules: Path = NODE_MODULES) -> APIRouter:
    """Low-priority frontend routes: API paths always win, so the panel can never shadow an endpoint."""
    router = APIRouter(include_in_schema=False)
    for prefix, sub in VENDOR.items():
        directory = node_modules / sub
        if directory.is_dir():
            router.frontend(prefix, directory=directory, fallback=None, check_dir=True)
        else:  # the API still serves; the panel shows that its chart library is missing
            log.warning("web panel: %s is missing (run `npm ci` in %s); %s will answer 404", directory, REPO,
                        prefix)
    if web_dir.is_dir():
        router.frontend("/", directory=web_dir, fallback=None, check_dir=True)
    else:
        log.warning("web panel: %s is missing; the panel is not served", web_dir)
    return router


router = panel_router()
