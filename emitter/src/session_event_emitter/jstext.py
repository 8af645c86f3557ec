"""Text rules of the original TypeScript plugin: JavaScript's ``String.prototype.trim()``.

The original trims its machine id, session ids, GitHub login and ``ASHLR_TELEMETRY`` with
``trim()``, which removes the ECMAScript *WhiteSpace* and *LineTerminator* code points:
TAB, VT, FF, SPACE, NO-BREAK SPACE, ZERO WIDTH NO-BREAK SPACE (U+FEFF, the byte-order
mark), every other ``Zs`` space separator, LF, CR, LINE SEPARATOR and PARAGRAPH SEPARATOR.

Python's ``str.strip()`` is not the same: it also removes U+001C to U+001F and U+0085 (NEL),
and keeps U+FEFF. Hashing text trimmed the Python way would give another hash than the
original's for the same input, so every value the two emitters share goes through
`js_trim`.
"""

from __future__ import annotations

# ECMAScript WhiteSpace: TAB, VT, FF, ZWNBSP and the Zs category (Unicode 15: SPACE,
# NBSP, OGHAM SPACE MARK, EN QUAD..HAIR SPACE, NNBSP, MMSP, IDEOGRAPHIC SPACE).
_WHITESPACE = (
    "\u0009\u000b\u000c\ufeff"
    "\u0020\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)
# ECMAScript LineTerminator: LF, CR, LS, PS.
_LINE_TERMINATORS = "\u000a\u000d\u2028\u2029"

JS_TRIM_CHARACTERS = _WHITESPACE + _LINE_TERMINATORS


def js_trim(text: str) -> str:
    """`text` without leading and trailing JavaScript white space, as ``text.trim()``."""
    return text.strip(JS_TRIM_CHARACTERS)


def has_control_character(text: str) -> bool:
    """True when `text` holds a C0 or C1 control character or DEL (category Cc)."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
