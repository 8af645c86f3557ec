"""The emitter installed in a virtual environment of its own, as its README recommends.

The hook is timed there and not in the development venv, whose many packages add start-up
hooks (.pth files) to every interpreter start. The venv lives in ``.venv/bench-emitter``;
it is made once (with the emitter's dependencies, from the package index) and the emitter
itself is reinstalled from the working tree at every run, so the code measured is the
code checked out.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from common import REPO

EMITTER = REPO / "emitter"
VENV = REPO / ".venv" / "bench-emitter"
_STAMP = VENV / ".dependencies"


def _dependencies_stamp() -> str:
    return hashlib.sha256((EMITTER / "pyproject.toml").read_bytes()).hexdigest()


def _run(command: list[str]) -> None:
    """Run an installation step quietly; its output is shown only when it fails."""
    done = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise RuntimeError(f"{' '.join(command[:4])} ... failed with exit code {done.returncode}")


def _pip(*args: str) -> None:
    # pip from the development venv installs into the emitter's venv, which needs no pip.
    _run([sys.executable, "-m", "pip", "--python", str(VENV / "bin" / "python"), *args])


def installer() -> str:
    """The pip that installs the emitter (and so writes its launcher), e.g. ``pip 26.2.1``."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=True
    )
    return " ".join(done.stdout.split()[:2])


def prepare() -> Path:
    """The `bin` directory of the emitter's own venv, with the emitter of this checkout."""
    stamp = _dependencies_stamp()
    # setuptools builds in emitter/build and never prunes it: a module deleted from the
    # source would still be installed from a stale copy, so the build starts clean.
    shutil.rmtree(EMITTER / "build", ignore_errors=True)
    fresh = not _STAMP.is_file() or _STAMP.read_text() != stamp
    if fresh:
        shutil.rmtree(VENV, ignore_errors=True)
        _run([sys.executable, "-m", "venv", "--without-pip", str(VENV)])
        _pip("install", "--quiet", str(EMITTER))
        _STAMP.write_text(stamp)
    else:
        _pip("install", "--quiet", "--no-deps", "--force-reinstall", str(EMITTER))
    shutil.rmtree(EMITTER / "build", ignore_errors=True)
    return VENV / "bin"
