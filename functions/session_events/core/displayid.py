"""Short display ids of identities and GitHub links for the operator: stable, never a hash.

An id is 64 bits of an HMAC-SHA256 of the hash keyed by the read token, written as sixteen
letters that are not hex digits, in groups of four (`u-kqtm-wzrh-gxpv-nmst`, `gh-…`): it is
the same on every page while the read token stays the same, cannot be turned back into the
hash, can never equal a hash or a prefix of one, and two people share one with a chance of
about n²/2⁶⁵ among n identities (one in ten billion among 200,000).
"""

from __future__ import annotations

import hashlib
import hmac
import re

ALPHABET = "ghjkmnpqrstvwxyz"  # sixteen letters, none of [0-9a-f]: 4 bits each
BITS = 64
GROUP = 4
IDENTITY_ID = re.compile(rf"u(-[{ALPHABET}]{{{GROUP}}}){{{BITS // 4 // GROUP}}}")


class DisplayIds:
    """Display ids keyed by one secret (the read token)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"session-events display id\0" + secret.encode()).digest()

    def _render(self, prefix: str, value: str) -> str:
        digest = hmac.new(self._key, f"{prefix}:{value}".encode(), hashlib.sha256).digest()
        nibbles = (nibble for byte in digest[: BITS // 8] for nibble in (byte >> 4, byte & 0x0F))
        letters = "".join(ALPHABET[nibble] for nibble in nibbles)
        groups = [letters[start : start + GROUP] for start in range(0, len(letters), GROUP)]
        return "-".join([prefix, *groups])

    def identity(self, identity_hash: str) -> str:
        return self._render("u", identity_hash)

    def github(self, github_hash: str | None) -> str | None:
        return None if github_hash is None else self._render("gh", github_hash)


def is_identity_id(text: str) -> bool:
    """Whether `text` has the form of an identity's display id."""
    return IDENTITY_ID.fullmatch(text) is not None
