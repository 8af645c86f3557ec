"""Lets `python -m session_event_emitter` behave exactly like `session-event-emit`."""

from session_event_emitter.cli import run

run()
