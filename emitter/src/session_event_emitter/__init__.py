"""Opt-in SessionEnd emitter: builds a hashed session event locally and delivers it later.

The package root stays import-light: the hook path imports only the standard library, and
not even all of that (see ``diagnostics`` for the package's named logger).
"""

__version__ = "0.1.0"
