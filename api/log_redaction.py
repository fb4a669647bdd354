"""Masks credentials in uvicorn's access log: the live stream takes ?access_token= (EventSource sets no header).

The query is decoded before matching, so `access%5Ftoken=`, `ACCESS_TOKEN=` or `x=1;access_token=` are masked
as well as the literal name, and any value shaped like one of our tokens is masked whatever its name.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

from api.auth.secrets import API_TOKEN_PREFIX, SESSION_PREFIX

SECRET_PARAMS = frozenset({"access_token"})
MASK = "***"
# new_token(): prefix + token_urlsafe(32) → 43 url-safe characters; also percent-encoded forms of it
_TOKEN_SHAPE = re.compile(
    rf"(?:{re.escape(SESSION_PREFIX)}|{re.escape(API_TOKEN_PREFIX)})[A-Za-z0-9_\-]{{20,}}", re.IGNORECASE)
_PAIR_SPLIT = re.compile(r"([&;])")


def _decoded(text: str) -> str:
    """Percent-decoding until stable: a double-encoded name must not slip through either."""
    for _ in range(4):
        nxt = unquote_plus(text)
        if nxt == text:
            break
        text = nxt
    return text


def redact_query(query: str) -> str:
    """The query string with every secret parameter's value and every token-shaped value masked."""
    parts = _PAIR_SPLIT.split(query)
    out = []
    for part in parts:
        if part in ("&", ";") or not part:
            out.append(part)
            continue
        name, eq, value = part.partition("=")
        if _decoded(name).strip().lower() in SECRET_PARAMS:
            out.append(f"{name}{eq}{MASK}" if eq else f"{name}={MASK}" if value else part)
        elif _TOKEN_SHAPE.search(_decoded(part)):
            out.append(f"{name}{eq}{MASK}" if eq else MASK)
        else:
            out.append(part)
    return "".join(out)


def redact_target(target: str) -> str:
    """A request target (path?query) with its query redacted; a token shape in the path is masked too."""
    path, sep, query = target.partition("?")
    if _TOKEN_SHAPE.search(_decoded(path)):
        path = _TOKEN_SHAPE.sub(MASK, _decoded(path))
    return path + sep + redact_query(query) if sep else path


class RedactQueryTokens(logging.Filter):
    """On uvicorn.access: its record args are (client, method, full path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_target(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    """Mask query tokens in uvicorn's access log (a filter on its logger survives uvicorn's dictConfig)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryTokens) for f in access.filters):
        access.addFilter(RedactQueryTokens())
