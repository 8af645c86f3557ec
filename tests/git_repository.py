"""Git repositories with commits, made with the git on PATH for tests and benchmarks."""

import subprocess
from pathlib import Path

# Commits need an author; these keep any user's git configuration out of the way.
_AUTHOR = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]


def git(path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in `path`; its output, stripped (CalledProcessError when it fails)."""
    done = subprocess.run(
        ["git", *_AUTHOR, *args], cwd=path, env=env, check=True, capture_output=True, timeout=60
    )
    return done.stdout.decode().strip()


def repository(path: Path, *, commits: int = 1, env: dict[str, str] | None = None) -> Path:
    """`path` made a new repository (its parents too) with `commits` empty commits."""
    path.mkdir(parents=True)
    git(path, "init", "-q", env=env)
    for n in range(commits):
        git(path, "commit", "-q", "--allow-empty", "-m", f"commit {n}", env=env)
    return path
