"""Guesses left in a plant file (`# TODO`, `unit: unknown`) are warnings check-config prints, never silent."""

from __future__ import annotations

import re
from pathlib import Path

_UNKNOWN_UNIT = re.compile(r"^\s*(-\s*)?unit:\s*['\"]?unknown['\"]?\s*(#.*)?$")


def todo_warnings(path: Path) -> list[str]:
    """`file:line: warning: …` for every TODO comment and `unit: unknown` (as browse --emit-config leaves them)."""
    out: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        comment = line.partition("#")[2]
        if "TODO" in comment:
            out.append(f"{path}:{lineno}: warning: {comment.strip()}")
        elif _UNKNOWN_UNIT.match(line):
            out.append(f"{path}:{lineno}: warning: unit unknown: set the tag's engineering unit")
    return out
