"""Short display ids of identities and GitHub links for the operator: stable, never a hash.

An id is an HMAC-SHA256 of the hash keyed by the read token, written with sixteen letters
that are not hex digits (`u-kqtm-wzrh`, `gh-…`): it is the same on every page while the
read token stays the same, cannot be turned back into the hash, and can never equal a hash
or a prefix of one.
"""

from __future__ import annotations

import hashlib
import hmac

ALPHABET = "ghjkmnpqrstvwxyz"  # no character of [0-9a-f]
LETTERS = 8


class DisplayIds:
    """Display ids keyed by one secret (the read token)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"session-events display id\0" + secret.encode()).digest()

    def _render(self, prefix: str, value: str) -> str:
        digest = hmac.new(self._key, f"{prefix}:{value}".encode(), hashlib.sha256).digest()
        letters = "".join(ALPHABET[byte % 16] for byte in digest[:LETTERS])
        return f"{prefix}-{letters[:4]}-{letters[4:]}"

    def identity(self, identity_hash: str) -> str:
        return self._render("u", identity_hash)

    def github(self, github_hash: str | None) -> str | None:
        return None if github_hash is None else self._render("gh", github_hash)
