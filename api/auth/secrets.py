"""Password hashing (argon2id through argon2-cffi) and random tokens stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

SESSION_PREFIX = "pcs_"
API_TOKEN_PREFIX = "pct_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists, so timing does not reveal user names."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_token(prefix: str) -> str:
    """256 bits from the OS CSPRNG; high entropy makes a plain SHA-256 at rest sufficient."""
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def random_password() -> str:
    return secrets.token_urlsafe(15)
