"""Where plantctl keeps state (spool, certificates, local database) and caches, outside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """PLANTCTL_STATE_DIR, else $XDG_STATE_HOME/plantctl, else ~/.local/state/plantctl."""
    explicit = os.environ.get("PLANTCTL_STATE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(base) / "plantctl"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """PLANTCTL_CACHE_DIR, else $XDG_CACHE_HOME/plantctl, else ~/.cache/plantctl (rebuildable things)."""
    explicit = os.environ.get("PLANTCTL_CACHE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "plantctl"
    path.mkdir(parents=True, exist_ok=True)
    return path
