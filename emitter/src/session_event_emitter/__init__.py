"""Opt-in SessionEnd emitter: builds a hashed session event locally and delivers it later.

The package root stays import-light: the hook path imports only the standard library.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
