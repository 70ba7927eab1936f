"""Every test gets its own INHOUSE_HOME, so no test can see another's data or the user's.

The egress lock is on for the whole session (installed before any test module is imported): a test or
a library that tries to reach a non-loopback host fails, and the attempt is recorded. At the end of the
session any recorded outbound attempt fails the run (tests/unit/test_egress.py shows the lock works).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inhouse.config import Settings
from inhouse.guard import copies, egress
from inhouse.store import SQLiteStore

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


@pytest.fixture
def settings() -> Settings:
    return Settings(embedder="hash")


@pytest.fixture
def store(inhouse_home: Path):
    s = SQLiteStore(inhouse_home / "inhouse.db")
    yield s
    s.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything in it tried to open a non-loopback connection."""
    outbound = list(EGRESS.attempts)
    if outbound:
        lines = "\n".join(f"  {a.call} -> {a.host}:{a.port} ({'allowed' if a.allowed else 'refused'})"
                          for a in outbound)
        print(f"\negress: the test suite tried {len(outbound)} outbound connection(s):\n{lines}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
