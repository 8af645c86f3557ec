"""Opt-in SessionEnd emitter: builds a hashed session event locally and delivers it later.

The top level is the hook path (hook, event, facts, identity, outbox, spawn, settings, consent,
the ref store and their helpers): it imports only the standard library, and not even all of
that, never ``commands/`` or ``send/``. ``cli`` is the command's entry and dispatches to all.
"""

__version__ = "0.1.0"
