"""The numeric bounds of CONTRACT §1 that the emitter clamps its counts to."""

MAX_TOOL_COUNT = 1_000_000
MAX_TOKENS_SAVED = 1_000_000_000
