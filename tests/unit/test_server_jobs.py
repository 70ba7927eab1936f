"""Ingest jobs are stored in the server database: their status survives a restart, per tenant."""

from inhouse.server.db import ServerDB
from inhouse.server.jobs import INTERRUPTED, IngestJob, JobStore


def test_jobs_survive_a_restart_and_stay_in_their_tenant(tmp_path):
    db = ServerDB(tmp_path / "server.db")
    jobs = JobStore(db)
    done = IngestJob("a1", "acme", "반품.md", ("staff", "hr"))
    jobs.save(done)
    done.status, done.report = "done", {"summary": {"added": 1}}
    jobs.save(done)
    jobs.save(IngestJob("b2", "acme", "big.pdf", ()))  # still queued when the server stops
    jobs.save(IngestJob("c3", "globex", "x.md", ()))
    db.close()

    again = JobStore(ServerDB(tmp_path / "server.db"))
    got = again.get("acme", "a1")
    assert got is not None and got.to_json() == done.to_json()
    interrupted = again.get("acme", "b2")
    assert interrupted.status == "failed" and interrupted.error == INTERRUPTED
    assert again.get("acme", "c3") is None  # another tenant's job
    assert [j.id for j in again.list("acme")] == ["a1", "b2"]
    assert [j.filename for j in again.list("globex")] == ["x.md"]


def test_a_starting_server_leaves_the_jobs_of_another_running_server_alone(tmp_path):
    """Two servers share a home: the one that starts fails only the jobs of a server process that is gone."""
    import socket
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        db = ServerDB(tmp_path / "server.db")
        running = JobStore(db)
        running.owner = f"{socket.gethostname()}:{other.pid}:abcd1234"  # the other server's jobs
        job = IngestJob("r1", "acme", "big.pdf", ())
        job.status = "running"
        running.save(job)
        elsewhere = JobStore(db)
        elsewhere.owner = "another-host:1:abcd1234"  # a server on another machine sharing the home
        elsewhere.save(IngestJob("h1", "acme", "far.pdf", ()))
        db.close()

        db = ServerDB(tmp_path / "server.db")
        assert JobStore(db).get("acme", "r1").status == "running"
        assert JobStore(db).get("acme", "h1").status == "queued"
        db.close()
    finally:
        other.kill()
        other.wait()
    db = ServerDB(tmp_path / "server.db")
    gone = JobStore(db).get("acme", "r1")
    assert gone.status == "failed" and gone.error == INTERRUPTED
    assert JobStore(db).get("acme", "h1").status == "queued"
