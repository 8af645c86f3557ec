"""JSON for the hook's path: the standard library's own C codec, without the `json` package.

`import json` costs the hook about as much as the rest of its imports together: the
package's Python layer loads `re` (and with it `enum`) for a whitespace pattern. The
decoding and encoding themselves are done by the C module `_json` underneath it; this
module calls that directly, with the settings `json.loads` and
``json.dumps(separators=(",", ":"))`` use, and falls back to the `json` package where
`_json` is missing or changed. ``tests/emitter/test_jsoncodec.py`` checks both against
`json` on generated documents.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    Scanner = Callable[[str, int], tuple[object, int]]

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScannerContext:
    """The attributes `_json.make_scanner` reads from a `json.JSONDecoder` (3.15 adds one)."""

    __slots__ = (
        "array_hook",
        "object_hook",
        "object_pairs_hook",
        "parse_constant",
        "parse_float",
        "parse_int",
        "strict",
    )

    def __init__(
        self, parse_constant: Callable[[str], object], parse_int: Callable[[str], object]
    ) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.array_hook = None
        self.parse_float = float
        self.parse_int = parse_int
        self.parse_constant = parse_constant


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder(*, sort_keys: bool) -> Callable[[object, int], Iterable[str]]:
    """A C encoder as `json.dumps` makes one: a fresh circular-reference memo every time."""
    return _make_encoder({}, _not_serializable, _ascii, None, ":", ",", sort_keys, False, True)


def _scanner(
    parse_constant: Callable[[str], object], parse_int: Callable[[str], object] = int
) -> Scanner:
    """A C scanner as `json.JSONDecoder` makes one (typeshed types its argument oddly)."""
    return _make_scanner(_ScannerContext(parse_constant, parse_int))  # type: ignore[arg-type]


_SCAN: Scanner | None
try:
    from _json import encode_basestring_ascii as _ascii
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner

    _SCAN = _scanner(_CONSTANTS.__getitem__)
    _encoder(sort_keys=False)
except (ImportError, TypeError, AttributeError):  # another interpreter, or a changed `_json`
    _SCAN = None


def loads(
    document: str | bytes,
    *,
    parse_constant: Callable[[str], object] | None = None,
    parse_int: Callable[[str], object] | None = None,
) -> object:
    """`json.loads(document)`; ValueError (or RecursionError) where it would raise one.

    Bytes are read as `json.loads` reads them; `parse_constant` is called for NaN,
    Infinity and -Infinity, and `parse_int` for every integer, as there.
    """
    if _SCAN is None or (not isinstance(document, str) and not _is_utf8(document)):
        return _json_loads(document, parse_constant, parse_int)
    if isinstance(document, bytes):
        # json.loads skips a UTF-8 byte-order mark in bytes (and refuses one in str); the
        # mark is cut here because the "utf-8-sig" codec would be one more module to load.
        if document.startswith(b"\xef\xbb\xbf"):
            document = document[3:]
        document = document.decode("utf-8", "surrogatepass")
    if parse_constant is None and parse_int is None:
        scan = _SCAN
    else:
        scan = _scanner(parse_constant or _CONSTANTS.__getitem__, parse_int or int)
    start = len(document) - len(document.lstrip(_WHITESPACE))
    try:
        value, end = scan(document, start)
    except (StopIteration, SystemError):
        # Malformed. The C scanner raises its errors through `json.decoder`, which Python
        # 3.11 only finds if it is loaded (SystemError otherwise): the json package reads
        # the document again and says what is wrong, as json.loads would.
        return _json_loads(document, parse_constant, parse_int)
    if document[end:].strip(_WHITESPACE):
        return _json_loads(document, parse_constant, parse_int)  # "Extra data"
    return value


def _json_loads(
    document: str | bytes,
    parse_constant: Callable[[str], object] | None,
    parse_int: Callable[[str], object] | None,
) -> object:
    import json

    return json.loads(document, parse_constant=parse_constant, parse_int=parse_int)


def dumps(value: object, *, sort_keys: bool = False) -> str:
    """``json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)``."""
    if _SCAN is None:
        import json

        return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)
    if isinstance(value, str):  # json.dumps special-cases a bare string the same way
        return str(_ascii(value))
    return "".join(_encoder(sort_keys=sort_keys)(value, 0))


def _is_utf8(document: bytes) -> bool:
    """Whether `json.loads` would decode these bytes as UTF-8 (its `detect_encoding`)."""
    if document.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 and UTF-32 LE marks
        return False
    if len(document) >= 4 or len(document) == 2:  # a NUL in the first two: UTF-16 or 32
        return document[0] != 0 and document[1] != 0
    return True
