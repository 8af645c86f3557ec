"""HEAD read from the repository's files agrees with `git rev-parse --short=12 HEAD`.

Each test builds a real repository with git in one of the layouts a session can end in
and checks that the file reader answers by itself (no git started) with git's own answer;
where the files alone cannot answer, the reader says so and git is asked.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from session_event_emitter import githead
from session_event_emitter.facts import git_head_sha

GIT = [
    "git",
    "-c",
    "user.name=t",
    "-c",
    "user.email=t@example.invalid",
    "-c",
    "init.defaultBranch=main",
]

Git = Callable[..., str]


@pytest.fixture
def git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Git:
    """Runs git in a directory with a private HOME and no system or global config."""
    home = tmp_path / "git-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for name in githead.GIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def run(cwd: Path, *args: str) -> str:
        done = subprocess.run(
            [*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
        )
        return done.stdout.strip()

    return run


def rev_parse(directory: Path) -> str | None:
    """git's own answer: `git rev-parse --short=12 HEAD`, or None where it fails."""
    done = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def from_files(directory: Path) -> str | None:
    """The file reader's answer, 12 digits; raises Undecided if it would ask git."""
    sha = githead.head_commit(str(directory), os.environ)
    return None if sha is None else sha[:12]


def new_repo(git: Git, path: Path, *, commits: int = 1) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for n in range(commits):
        git(path, "commit", "-q", "--allow-empty", "-m", f"commit {n}")
    return path


def test_fresh_repository_without_a_commit_has_no_head(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo", commits=0)
    assert rev_parse(repo) is None
    assert from_files(repo) is None


def test_loose_branch_ref_matches_git(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo", commits=2)
    assert (repo / ".git" / "refs" / "heads" / "main").is_file()
    assert from_files(repo) == rev_parse(repo) is not None


def test_packed_branch_ref_matches_git(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo", commits=2)
    git(repo, "tag", "-a", "-m", "annotated", "v1")  # a peeled line in packed-refs
    git(repo, "branch", "other")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert from_files(repo) == rev_parse(repo) is not None


def test_loose_ref_wins_over_its_stale_packed_copy(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo")
    git(repo, "pack-refs", "--all")
    packed = rev_parse(repo)
    git(repo, "commit", "-q", "--allow-empty", "-m", "after packing")
    assert (repo / ".git" / "refs" / "heads" / "main").is_file()
    assert from_files(repo) == rev_parse(repo) != packed


def test_branch_name_with_slashes_loose_and_packed(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo")
    git(repo, "checkout", "-q", "-b", "feature/deep/name")
    git(repo, "commit", "-q", "--allow-empty", "-m", "on the feature")
    assert from_files(repo) == rev_parse(repo) is not None
    git(repo, "pack-refs", "--all")
    assert from_files(repo) == rev_parse(repo) is not None


def test_detached_head_matches_git(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo", commits=3)
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert "ref:" not in (repo / ".git" / "HEAD").read_text()
    assert from_files(repo) == rev_parse(repo) is not None


def test_subdirectory_of_a_repository_matches_git(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo")
    inner = repo / "src" / "deep"
    inner.mkdir(parents=True)
    assert from_files(inner) == rev_parse(inner) is not None


def test_linked_worktree_matches_git(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo")
    worktree = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(worktree))
    git(worktree, "commit", "-q", "--allow-empty", "-m", "on the side")
    assert (worktree / ".git").is_file()
    assert from_files(worktree) == rev_parse(worktree) is not None
    assert from_files(repo) == rev_parse(repo) != rev_parse(worktree)


def test_linked_worktree_with_packed_refs_and_detached_head(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo", commits=2)
    worktree = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(worktree))
    git(repo, "pack-refs", "--all")
    assert from_files(worktree) == rev_parse(worktree) is not None
    git(worktree, "checkout", "-q", "--detach", "HEAD~1")
    assert from_files(worktree) == rev_parse(worktree) is not None


def test_submodule_matches_git(git: Git, tmp_path: Path) -> None:
    library = new_repo(git, tmp_path / "library", commits=2)
    repo = new_repo(git, tmp_path / "repo")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    submodule = repo / "lib"
    assert (submodule / ".git").is_file()
    assert from_files(submodule) == rev_parse(submodule) is not None
    assert from_files(submodule) != from_files(repo)


def test_head_naming_a_missing_branch_has_no_head(git: Git, tmp_path: Path) -> None:
    repo = new_repo(git, tmp_path / "repo")
    git(repo, "symbolic-ref", "HEAD", "refs/heads/does-not-exist")
    assert rev_parse(repo) is None
    assert from_files(repo) is None


def test_sha256_repository_matches_git(git: Git, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "--object-format=sha256")
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    assert len(githead.head_commit(str(repo), os.environ) or "") == 64
    assert from_files(repo) == rev_parse(repo) is not None


def test_outside_any_repository_there_is_no_head(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert rev_parse(plain) is None
    assert from_files(plain) is None


@pytest.mark.parametrize(
    "make_odd",
    [
        pytest.param(lambda repo: (repo / ".git" / "reftable").mkdir(), id="reftable"),
        pytest.param(lambda repo: (repo / ".git" / "HEAD").write_text("garbage\n"), id="bad-head"),
        pytest.param(lambda repo: (repo / ".git" / "refs").rename(repo / "x"), id="no-refs-dir"),
    ],
)
def test_layouts_the_reader_does_not_know_are_left_to_git(
    git: Git, tmp_path: Path, make_odd: Callable[[Path], object]
) -> None:
    repo = new_repo(git, tmp_path / "repo")
    make_odd(repo)
    with pytest.raises(githead.Undecided):
        githead.head_commit(str(repo), os.environ)
    assert git_head_sha(str(repo)) == rev_parse(repo)


def test_bare_repository_is_left_to_git(git: Git, tmp_path: Path) -> None:
    source = new_repo(git, tmp_path / "source")
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    with pytest.raises(githead.Undecided):
        githead.head_commit(str(bare), os.environ)
    assert git_head_sha(str(bare)) == rev_parse(bare) is not None


def test_git_variables_in_the_environment_are_left_to_git(
    git: Git, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(git, tmp_path / "repo")
    other = new_repo(git, tmp_path / "other", commits=2)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    with pytest.raises(githead.Undecided):
        githead.head_commit(str(repo), os.environ)
    assert git_head_sha(str(repo)) == rev_parse(repo) == rev_parse(other)


def test_repository_of_another_user_is_left_to_git(
    git: Git, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(git, tmp_path / "repo")
    owner = os.stat(repo).st_uid
    monkeypatch.setattr(githead.os, "geteuid", lambda: owner + 1)
    with pytest.raises(githead.Undecided):
        githead.head_commit(str(repo), os.environ)


def test_a_readable_repository_does_not_start_git(
    git: Git, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = new_repo(git, tmp_path / "repo")
    expected = rev_parse(repo)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "git-ran"
    fake = bin_dir / "git"
    fake.write_text(f"#!/bin/sh\n: > {marker}\necho 0123456789abcdef\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert git_head_sha(str(repo)) == expected
    assert not marker.exists()
