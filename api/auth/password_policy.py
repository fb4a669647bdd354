"""Which passwords an account may have, after NIST SP 800-63B §3.1.1.2 (memorized secrets): a minimum length and
a check against lists of common, expected and context-specific passwords; no composition rules, no expiry.

The common list is zxcvbn's (30,000 passwords most frequent in breach corpora), shipped as data in that package.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
# Context-specific words (SP 800-63B: "the name of the service"; vendors' defaults for plant equipment).
CONTEXT_WORDS = frozenset({
    "password", "passwort", "changeme", "admin", "administrator", "root", "default", "secret", "letmein", "welcome",
    "qwerty", "qwertz", "azerty", "plantctl", "operator", "engineer", "viewer", "scada", "opcua", "modbus", "plc",
    "siemens", "manager", "user", "test", "demo", "abc", "iloveyou", "monkey", "dragon", "master", "login", "plant",
    "wastewater"})
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """zxcvbn's breach-frequency list, lower case, without the very short entries no 12-character password equals."""
    words: list[str] = FREQUENCY_LISTS["passwords"]
    return frozenset(w.lower() for w in words if len(w) >= 4)


def _is_sequence(text: str) -> bool:
    """'abcdefghijkl', '123456789012', '987654321098': each character one step from the last (wrapping digits)."""
    steps = {(ord(b) - ord(a)) % 10 if a.isdigit() and b.isdigit() else ord(b) - ord(a)
             for a, b in itertools.pairwise(text)}
    return len(steps) == 1 and steps <= {1, 9, -1}


def weak_password_reason(password: str, username: str | None = None) -> str | None:
    """Why a password may not be used for an account of this service, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must have at most {MAX_PASSWORD_LENGTH} characters"
    if len(set(password)) < 5:
        return "uses fewer than 5 different characters (repetitive)"
    lowered = password.lower()
    if _is_sequence(lowered):
        return "is a sequence of characters"
    if username and len(username) >= 3 and username.lower() in lowered:
        return "contains the user name"
    core = _EDGE.sub("", lowered)  # 'Password1234!' → 'password'
    letters = re.sub(r"[^a-z]", "", lowered)
    candidates = {lowered, core} | ({letters} if len(letters) * 2 >= len(password) else set())
    common = common_passwords()
    for candidate in candidates:
        if candidate in common or candidate in CONTEXT_WORDS:
            return "is a default or common password (from lists of breached passwords)"
    for word in CONTEXT_WORDS:
        if letters and letters == word * (len(letters) // len(word)):
            return f"is a default or common password ({word!r} with digits or symbols)"
    return None
