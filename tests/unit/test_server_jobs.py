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
