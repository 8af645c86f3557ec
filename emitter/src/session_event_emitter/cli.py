"""The ``session-event-emit`` command: the hook (no subcommand) and its subcommands.

Without a subcommand this is the SessionEnd hook: it never writes to stdout (``--dry-run``
prints the event and nothing else), never raises, and exits 0 whatever happens.
"""

from __future__ import annotations

import os
import sys

from session_event_emitter import __version__, diagnostics
from session_event_emitter.limits import MAX_TOKENS_SAVED, MAX_TOOL_COUNT

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import NoReturn

# Each subcommand and its module in commands/, which has a ``run(args) -> int``.
COMMAND_MODULES = {
    "status": "status",
    "flush": "flush",
    "enable": "enable",
    "disable": "disable",
    "retry-dead": "retry_dead",
    "log": "log",
    "ref": "ref",
    "forget": "forget",
}
SUBCOMMANDS = tuple(COMMAND_MODULES)


class UsageError(Exception):
    """The command line did not parse."""


class _BareHookArgs:
    """The parsed flags of a hook run without arguments (argparse is not loaded for it)."""

    __slots__ = ()
    url: str | None = None
    dry_run = False
    tool_count: int | None = None
    tokens_saved: int | None = None
    plugin_version: str | None = None
    command: str | None = None


class _BareRefArgs:
    """``ref REF...`` without flags, parsed without argparse: a hook runs it after every tool
    call, and a refs-only command line needs no parser."""

    __slots__ = ("refs",)
    url: str | None = None
    session_id: str | None = None
    command = "ref"

    def __init__(self, refs: Sequence[str]) -> None:
        self.refs = list(refs)


def _count(maximum: int) -> object:
    def parse(text: str) -> int:
        import argparse

        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError("must be 0 or more")
        return min(value, maximum)

    return parse


def _parser_classes() -> tuple[type[argparse.ArgumentParser], type[argparse.HelpFormatter]]:
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(message)

    class _Formatter(argparse.HelpFormatter):
        """Help formatter that sizes itself with os, sparing an import of shutil."""

        def __init__(self, prog: str) -> None:
            try:
                width = os.get_terminal_size(sys.stderr.fileno()).columns - 2
            except (OSError, ValueError, AttributeError):
                width = 78
            super().__init__(prog, width=max(width, 40))

    return _Parser, _Formatter


def build_parser(*, with_commands: bool = True) -> argparse.ArgumentParser:
    """The full command line; `with_commands=False` builds only the hook's flags (faster)."""
    _Parser, _Formatter = _parser_classes()
    common = _Parser(add_help=False, formatter_class=_Formatter)
    common.add_argument(
        "--url",
        default=None,
        help="URL of the ingest function, its base or its /v1/session-events endpoint "
        "(beats SESSION_EVENTS_URL)",
    )
    parser = _Parser(
        prog="session-event-emit",
        parents=[common],
        formatter_class=_Formatter,
        description=(
            "Record this coding session's shape (hashes and counts only) and deliver it to "
            "the ingest function, if telemetry is enabled. Without a subcommand this is the "
            "SessionEnd hook: it reads the hook JSON on stdin and returns at once."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the event that would be sent; store nothing"
    )
    parser.add_argument("--tool-count", type=_count(MAX_TOOL_COUNT), default=None)  # type: ignore[arg-type]
    parser.add_argument("--tokens-saved", type=_count(MAX_TOKENS_SAVED), default=None)  # type: ignore[arg-type]
    parser.add_argument(
        "--plugin-version",
        default=None,
        metavar="VERSION",
        help="the version of the plugin running this hook (beats SESSION_EVENTS_PLUGIN_VERSION "
        "and $CLAUDE_PLUGIN_ROOT's plugin.json / package.json); a malformed one is passed over",
    )
    if not with_commands:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    status = sub.add_parser(
        "status",
        parents=[common],
        formatter_class=_Formatter,
        help="consent, endpoint, outbox depth, last delivery",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    flush = sub.add_parser(
        "flush",
        parents=[common],
        formatter_class=_Formatter,
        help="deliver the outbox now, in the foreground",
    )
    flush.add_argument("--deadline", type=float, default=None, help="seconds (default 10)")
    sub.add_parser(
        "enable",
        parents=[common],
        formatter_class=_Formatter,
        help="record consent in the config file",
    )
    sub.add_parser(
        "disable",
        parents=[common],
        formatter_class=_Formatter,
        help="withdraw consent and empty the outbox",
    )
    sub.add_parser(
        "retry-dead",
        parents=[common],
        formatter_class=_Formatter,
        help="put the dead letters (events the server called invalid) back in the outbox",
    )
    log = sub.add_parser(
        "log",
        parents=[common],
        formatter_class=_Formatter,
        help="show the events the server gave a verdict on (accepted, duplicate, invalid)",
    )
    log.add_argument("-n", "--limit", type=int, default=20, help="last N events (0 = all)")
    ref = sub.add_parser(
        "ref",
        parents=[common],
        formatter_class=_Formatter,
        help="record discovery refs touched in the running session",
    )
    ref.add_argument("--session-id", default=None, help="the session (else the hook JSON on stdin)")
    ref.add_argument("refs", nargs="*", metavar="REF")
    forget = sub.add_parser(
        "forget",
        parents=[common],
        formatter_class=_Formatter,
        help="ask the server to delete every event of this install, then delete the local "
        "state and turn telemetry off",
    )
    forget.add_argument(
        "--dry-run",
        dest="forget_dry_run",
        action="store_true",
        help="say what would be done; send and delete nothing",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("SESSION_EVENTS_DEBUG"):
        diagnostics.log_to_stderr()
    if not arguments:
        # The bare hook, the common case: no flags to parse, so argparse is not loaded.
        return _hook(_BareHookArgs())
    if arguments[0] == "ref" and not any(token.startswith("-") for token in arguments[1:]):
        from session_event_emitter.commands import ref

        return ref.run(_BareRefArgs(arguments[1:]))
    wants_commands = any(token in SUBCOMMANDS or token in ("-h", "--help") for token in arguments)
    parser = build_parser(with_commands=wants_commands)
    try:
        args = parser.parse_args(arguments)
    except UsageError as error:
        sys.stderr.write(f"session-event-emit: {error}\n")
        return 0 if _is_hook_run(arguments) else 2
    if args.command is None:
        return _hook(args)
    # Only the chosen command's module is loaded: `ref` runs after every tool call.
    from importlib import import_module

    module = import_module(f"session_event_emitter.commands.{COMMAND_MODULES[args.command]}")
    handler: Callable[[argparse.Namespace], int] = module.run
    return handler(args)


def _is_hook_run(arguments: Sequence[str]) -> bool:
    """The SessionEnd hook, or ``ref`` run from a hook: such runs always exit 0."""
    if "ref" in arguments:
        from session_event_emitter.commands import ref

        return ref.runs_as_hook(arguments, sys.stdin)
    return not any(token in SUBCOMMANDS for token in arguments)


def _hook(args: argparse.Namespace | _BareHookArgs) -> int:
    """Run the hook; every failure is swallowed, the exit code is always 0."""
    try:
        from session_event_emitter.hook import run_hook

        run_hook(
            url=args.url,
            tool_count=args.tool_count,
            tokens_saved=args.tokens_saved,
            plugin_version=args.plugin_version,
            dry_run=args.dry_run,
        )
    except BaseException as exc:  # the hook must never fail the session
        diagnostics.debug(__name__, "hook failed: %s", type(exc).__name__)
    return 0


def run() -> NoReturn:
    """Console-script entry point: the hook path exits 0 even if main() itself breaks."""
    try:
        code = main()
        sys.stdout.flush()  # here, so that a reader that went away is seen below
    except SystemExit:
        raise
    except BrokenPipeError:
        code = _reader_went_away()
    except BaseException as exc:
        is_hook = _is_hook_run(sys.argv[1:])
        if not is_hook:
            sys.stderr.write(f"session-event-emit: failed: {type(exc).__name__}: {exc}\n")
        code = 0 if is_hook else 1
    if not sys.argv[1:]:
        _end_bare_hook()
    sys.exit(code)


def _reader_went_away() -> int:
    """stdout's reader closed the pipe (``log | head``): end quietly with 0, as Unix tools do.

    What is still buffered is dropped: stdout is pointed at /dev/null, so the interpreter's
    last flush has nowhere to fail.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 0


def _end_bare_hook() -> NoReturn:
    """End the bare hook at once, exit 0.

    Its event is stored and synced and the sender is started on its own: the interpreter's
    teardown would only free memory, which the kernel does faster, and a session's end
    waits for this process. The standard streams are flushed first, so no word is lost.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            continue
    os._exit(0)
