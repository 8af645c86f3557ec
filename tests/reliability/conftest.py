"""Fixtures of the reliability suite: live functions on loopback and isolated emitter installs."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import FunctionServer, Install
from loopback import FUNCTION_SOURCE, free_port

LAST = "test_server_logs_carry_no_hash_and_no_submitted_value"

_names = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log scan reads every server log of the run, so it goes last."""
    items.sort(key=lambda item: item.name.startswith(LAST))


@pytest.fixture(scope="session")
def server_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


StartFunction = Callable[..., FunctionServer]


@pytest.fixture
def start_function(tmp_path: Path, server_log_dir: Path) -> Iterator[StartFunction]:
    """Start the function (SQLite under this test's tmp dir unless `db` is given)."""
    if not FUNCTION_SOURCE.exists():
        pytest.skip("functions/main.py is not in this tree")
    started: list[FunctionServer] = []

    def start(db: Path | None = None, port: int | None = None, **env: str) -> FunctionServer:
        server = FunctionServer(
            port=port or free_port(),
            db=db or tmp_path / "events.db",
            log=server_log_dir / f"function-{next(_names)}.log",
            env=env,
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


MakeInstall = Callable[..., Install]


@pytest.fixture
def make_install(tmp_path: Path) -> Iterator[MakeInstall]:
    """Emitter installs under this test's tmp dir; their senders are gone when it ends."""
    made: list[Install] = []

    def make(name: str = "install", **kwargs: object) -> Install:
        install = Install(tmp_path / name, **kwargs)  # type: ignore[arg-type]
        install.root.mkdir(parents=True, exist_ok=True)
        made.append(install)
        return install

    yield make
    for install in made:
        install.kill_senders()


@pytest.fixture
def install(make_install: MakeInstall) -> Install:
    return make_install()
