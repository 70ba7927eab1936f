"""Every test gets its own INHOUSE_HOME, so no test can see another's data or the user's.

The egress lock is on for the whole session (installed before any test module is imported): a test or
a library that tries to reach a non-loopback host fails, and the attempt is recorded. At the end of the
session any recorded outbound attempt fails the run (tests/unit/test_egress.py shows the lock works).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from inhouse.config import Settings
from inhouse.guard import copies, egress
from inhouse.models.registry import Registry
from inhouse.store import SQLiteStore
from tests.helpers import PACKAGED

# Loopback only, whatever the environment says: the suite must not need the network.
EGRESS = egress.install(allow=())

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
TAU_RETAIL = SHARED_DATA / "commerce" / "tau_retail"


def require(path: Path) -> Path:
    """A data folder or file the tests need: its absence fails the tests that use it, by name (never a silent
    skip)."""
    if not path.exists():
        pytest.fail(f"{path} is missing: these tests read it from ../shared/data, beside the checkout (as on "
                    "the CI machine).", pytrace=False)
    return path


@pytest.fixture(autouse=True)
def inhouse_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("INHOUSE_HOME", str(home))
    yield home
    copies.install(None)  # a copy guard a test's server or command installed ends with the test


@pytest.fixture(scope="session")
def packaged_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder where the packaged 0.5B was assembled from its parts (SHA-256 checked) once for the
    session: the real-model tests share its file instead of each assembling its own 0.5 GB copy."""
    registry = Registry(tmp_path_factory.mktemp("packaged"))
    registry.resolve(PACKAGED)
    return registry.dir


@pytest.fixture(scope="session")
def packaged_gguf(packaged_models: Path) -> Path:
    """The session's packaged 0.5B GGUF."""
    return Registry(packaged_models.parent).resolve(PACKAGED)[1]


@pytest.fixture
def packaged_model(inhouse_home: Path, packaged_models: Path) -> Path:
    """This test's home registers the session's packaged 0.5B (as `inhouse models` would have after its first
    use), so a command resolving it finds it checked; its path."""
    (inhouse_home / "models").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(packaged_models / "registry.json", inhouse_home / "models" / "registry.json")
    return Registry().resolve(PACKAGED)[1]


@pytest.fixture
def settings() -> Settings:
    return Settings(embedder="hash")


@pytest.fixture
def sqlite_store(inhouse_home: Path):
    s = SQLiteStore(inhouse_home / "inhouse.db")
    yield s
    s.close()


@pytest.fixture
def store(sqlite_store: SQLiteStore) -> SQLiteStore:
    return sqlite_store


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL + pgvector on loopback: the one `.ci/run` started (INHOUSE_TEST_DATABASE_URL), or one
    started for this session (tests/pgserver.py)."""
    url = os.environ.get("INHOUSE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from tests import pgserver

    base = Path(tempfile.mkdtemp(prefix="inhouse-pg-"))
    try:
        yield pgserver.start(base)
    finally:
        pgserver.stop(base)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database on the test server for one test, dropped after it."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(postgres_server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(postgres_server, dbname=name)
    with psycopg.connect(postgres_server, autocommit=True) as c:
        c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_store(postgres_url: str):
    from inhouse.store.postgres import PostgresStore

    s = PostgresStore(postgres_url)
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request):
    """Each store backend in turn: the embedded SQLite store and PostgreSQL + pgvector."""
    return request.getfixturevalue(f"{request.param}_store")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything in it tried to open a non-loopback connection."""
    outbound = list(EGRESS.attempts)
    if outbound:
        lines = "\n".join(f"  {a.call} -> {a.host}:{a.port} ({'allowed' if a.allowed else 'refused'})"
                          for a in outbound)
        print(f"\negress: the test suite tried {len(outbound)} outbound connection(s):\n{lines}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
