"""The session-events ingest function: validate one session event and store it exactly once."""

__version__ = "0.1.0"
