"""What a command prints: a line for the user on stdout, or a line on stderr."""

from __future__ import annotations

import sys


def out(text: str) -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
