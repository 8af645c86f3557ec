"""What `gcloud functions deploy --source=functions` uploads is enough to serve the viewer.

gcloud itself says which files it would upload (`gcloud meta list-files-for-upload`, which
applies functions/.gcloudignore); the viewer's templates must be among them, and a page
renders from those files alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "functions"
TEMPLATES = SOURCE / "session_events" / "viewer" / "templates"


def uploaded() -> list[str]:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        if os.environ.get("CI"):
            pytest.fail("gcloud is not installed: the upload test must run in CI")
        pytest.skip("gcloud is not installed")
    done = subprocess.run(
        [gcloud, "meta", "list-files-for-upload", str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def test_every_template_is_uploaded() -> None:
    files = set(uploaded())
    templates = sorted(
        str(path.relative_to(SOURCE)) for path in TEMPLATES.rglob("*") if path.is_file()
    )
    assert templates
    assert [name for name in templates if name not in files] == []


def test_the_uploaded_files_alone_render_the_pages(tmp_path: Path) -> None:
    for name in uploaded():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE / name, target)
    script = """
from session_events.viewer.pages import render_dashboard, render_session
row = {"session_id_hash": "ab" * 32, "identity": "u-x", "github": None,
       "ended_at": "2026-11-20T10:00:00.000Z", "tool_count": 3, "tokens_saved": 4,
       "branch_sha": None, "discovery_refs": []}
dashboard = render_dashboard(k=5, daily=[], versions=[], refs=[], sessions=[row],
                             total_count_in_window=1, logged_in=None, days=7, next_cursor=None)
session = render_session(session=row, related=[])
print("Sessions at a glance" in dashboard, "Session of" in session)
"""
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n{script}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"]
