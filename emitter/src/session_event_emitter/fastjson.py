"""``json.loads`` and compact ``json.dumps`` on the C accelerator alone.

The ``json`` package imports ``re`` (for its whitespace pattern), which the hook path
otherwise never needs. These two functions drive ``_json``'s scanner and encoder the way
``json.loads`` and ``json.dumps(value, separators=(",", ":"), sort_keys=True)`` do, and
hand the input to ``json`` itself when the accelerator is missing or the input fails, so
that errors (``json.JSONDecodeError``, RecursionError, TypeError) are exactly json's: the
accelerator can only raise JSONDecodeError once ``json.decoder`` has been imported.
"""

from __future__ import annotations

try:
    import _json as _accelerator
except ImportError:  # pragma: no cover - CPython always has it
    _accelerator = None  # type: ignore[assignment]

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _DecoderContext:
    """The attributes of ``json.JSONDecoder()`` that the C scanner reads."""

    __slots__ = (
        "object_hook",
        "object_pairs_hook",
        "parse_constant",
        "parse_float",
        "parse_int",
        "strict",
    )

    def __init__(self) -> None:
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _CONSTANTS.__getitem__
        self.strict = True


_scan = (
    None if _accelerator is None else _accelerator.make_scanner(_DecoderContext())  # type: ignore[arg-type]
)


def _detect_encoding(b: bytes | bytearray) -> str:
    """As ``json.detect_encoding``."""
    if b.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        return "utf-32"
    if b.startswith((b"\xfe\xff", b"\xff\xfe")):
        return "utf-16"
    if b.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if len(b) >= 4:
        if not b[0]:
            return "utf-16-be" if b[1] else "utf-32-be"
        if not b[1]:
            return "utf-16-le" if b[2] or b[3] else "utf-32-le"
    elif len(b) == 2:
        if not b[0]:
            return "utf-16-be"
        if not b[1]:
            return "utf-16-le"
    return "utf-8"


def _skip_whitespace(text: str, index: int) -> int:
    end = len(text)
    while index < end and text[index] in _WHITESPACE:
        index += 1
    return index


def loads(data: str | bytes | bytearray) -> object:
    """As ``json.loads(data)``."""
    if _scan is not None and isinstance(data, str | bytes | bytearray):
        try:
            if isinstance(data, str):
                if data.startswith("\ufeff"):
                    raise ValueError("BOM")  # json's own error is raised below
                text = data
            else:
                text = data.decode(_detect_encoding(data), "surrogatepass")
            value, end = _scan(text, _skip_whitespace(text, 0))
            if _skip_whitespace(text, end) == len(text):
                return value
        except Exception:  # noqa: S110 - json below raises the exact error
            pass
    import json

    return json.loads(data)


def _default(value: object) -> object:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def dumps_compact(value: object) -> str:
    """As ``json.dumps(value, separators=(",", ":"), sort_keys=True)``."""
    if _accelerator is None:
        import json

        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, str):
        return str(_accelerator.encode_basestring_ascii(value))
    try:
        encode = _accelerator.make_encoder(
            {}, _default, _accelerator.encode_basestring_ascii, None, ":", ",", True, False, True
        )
        return "".join(encode(value, 0))
    except Exception:  # noqa: S110 - json below raises the exact error
        pass
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True)
