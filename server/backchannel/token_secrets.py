"""The text of a bearer token: ``bck_`` and 32 random bytes in URL-safe base64 (43
characters). The prefix lets secret scanners recognise a leaked token (as GitHub's
``ghp_`` does); the text is shown once, at creation, and only its SHA-256 is stored: 256
random bits need no slow hash, nothing can be guessed from the digest."""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "bck_"
_RANDOM_BYTES = 32
#: What a token's text looks like; anything else is refused before it is hashed.
TOKEN_TEXT = re.compile(r"bck_[A-Za-z0-9_-]{43}")


def new_token_text() -> str:
    return PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def token_digest(text: str) -> bytes:
    """What is stored of a token, and what it is looked up by."""
    return hashlib.sha256(text.encode()).digest()
