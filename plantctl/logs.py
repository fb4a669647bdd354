"""Console logging for the service: our own messages in full, the protocol libraries' chatter kept short."""

from __future__ import annotations

import logging
import os

_LIBRARIES = ("asyncua", "pymodbus")


class FoldLibraryTracebacks(logging.Filter):
    """asyncua logs a full traceback for every dropped link (even on a clean stop); one line says the same."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name.split(".", 1)[0] in _LIBRARIES:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging() -> None:
    """PLANTCTL_LOG_LEVEL (default INFO); PLANTCTL_DEBUG=1 keeps library tracebacks and chatter."""
    debug = os.environ.get("PLANTCTL_DEBUG") == "1"
    level = os.environ.get("PLANTCTL_LOG_LEVEL", "DEBUG" if debug else "INFO").upper()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not debug:
        handler.addFilter(FoldLibraryTracebacks())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet_libraries()


def quiet_libraries() -> None:
    """The sources log one line per failure and one per recovery; the libraries' own retry warnings
    ("Repeating…", "Requested session timeout…") are folded away unless PLANTCTL_DEBUG=1."""
    if os.environ.get("PLANTCTL_DEBUG") == "1":
        return
    for name in _LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
