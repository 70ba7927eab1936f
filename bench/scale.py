"""Scale-out on loopback: API replicas sharing one PostgreSQL, a pool of engines, and failures on purpose.

1. Throughput against engine count: N simulated engines (bench/sim_engine.py: each request streams `--tokens`
   at `--tokens-per-s`; every engine takes `--concurrency` requests at once) behind 2 `inhouse serve` replicas
   sharing one PostgreSQL (keys, audit, queue places, engine slots); enough clients to keep every engine slot
   busy, for `--seconds`; completed chat requests per second for N = 1, 2, 4, 8, against N × the one-engine
   rate measured in the same run. The 2-core machine cannot run 8 real models; the simulated engines use no
   CPU, so what is measured is InHouse's routing and bookkeeping. The same load over 1 and 2 real llama.cpp
   servers (the packaged 0.5B, one thread each) shows what this machine itself does.
2. Faults: 2 replicas, 2 engines, steady load; one engine killed (every stream it held cut) a quarter of the
   way in, one replica killed with SIGKILL halfway. A client that cannot connect to a replica retries on the
   other (as a load balancer would). Counted: 200s, clean refusals (503/429 with Retry-After), anything else
   (500s, hangs past the client timeout) which must be 0; and the audit rows against the 200s (none lost).
3. PostgreSQL restarted mid-ingest (`pg_ctl restart -m fast` while `inhouse ingest` writes 300 documents):
   files that failed say so, a second ingest finishes the rest, and the store's consistency check is clean.

    python bench/scale.py [--seconds 15] [--engines 1,2,4,8] [--real-seconds 60]

Writes bench/results/scale.json and prints tables. Heavy (several processes): run under flock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.sim_engine import SimEngine  # noqa: E402
from inhouse.files import atomic_write_json  # noqa: E402
from tests import pgserver  # noqa: E402
from tests.helpers import free_port  # noqa: E402

console = Console(width=150)
CLI = [sys.executable, "-m", "inhouse.cli.main"]


class Deployment:
    """An INHOUSE_HOME, a PostgreSQL, API replicas (`inhouse serve` processes) and a key."""

    def __init__(self, work: Path, url: str) -> None:
        self.home = work / "home"
        self.env = os.environ | {"INHOUSE_HOME": str(self.home), "INHOUSE_DATABASE_URL": url,
                                 "INHOUSE_EMBEDDER": "hash", "INHOUSE_LOG_LEVEL": "error",
                                 "PYTHONPATH": str(ROOT / "src")}
        self.replicas: list[tuple[subprocess.Popen, str]] = []
        self.key = ""

    def run(self, *args: str) -> str:
        return subprocess.run([*CLI, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def engines(self, urls: list[str], concurrency: int, engine: str = "openai") -> None:
        self.run("models", "add-remote", "sim", *[x for u in urls for x in ("--url", u)], "--engine", engine,
                 "--model", "sim", "--concurrency", str(concurrency), "--timeout", "30")
        self.run("models", "default", "sim")
        if not self.key:
            self.key = self.run("keys", "create", "--tenant", "acme", "--user", "load").strip()

    def start(self, n: int = 2, max_waiting: int = 256) -> list[str]:
        for _ in range(n):
            port = free_port()
            proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--max-waiting", str(max_waiting)],
                                    env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.replicas.append((proc, f"http://127.0.0.1:{port}"))
        for proc, url in self.replicas:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"replica {url} did not start")
                time.sleep(0.2)
        return [u for _, u in self.replicas]

    def stop(self) -> None:
        for proc, _ in self.replicas:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.replicas = []


async def load(urls: list[str], key: str, clients: int, seconds: float, events=(), timeout: float = 30.0,
               max_tokens: int = 64) -> dict:
    """`clients` loops of chat requests spread over the replicas; a replica that refuses connections is left
    for the others. `events`: (second, callable) run during the load."""
    counts = {"ok": 0, "refused_clean": 0, "retried": 0, "bad": 0, "hung": 0}
    bad: list[str] = []
    done_at: list[float] = []
    start = time.monotonic()
    dead: set[str] = set()

    async def client(i: int) -> None:
        async with httpx.AsyncClient(timeout=timeout) as http:
            n = i
            while time.monotonic() - start < seconds:
                live = [u for u in urls if u not in dead] or urls
                url = live[n % len(live)]
                n += 1
                try:
                    r = await http.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                        json={"model": "sim", "max_tokens": max_tokens,
                                              "messages": [{"role": "user", "content": f"q{n}"}]})
                except httpx.TimeoutException:
                    counts["hung"] += 1
                    continue
                except httpx.TransportError:  # the replica is gone: the next try goes to another
                    dead.add(url)
                    counts["retried"] += 1
                    continue
                if r.status_code == 200:
                    counts["ok"] += 1
                    done_at.append(time.monotonic() - start)
                elif r.status_code in (429, 503) and r.headers.get("Retry-After"):
                    counts["refused_clean"] += 1
                    await asyncio.sleep(min(float(r.headers["Retry-After"]), 1.0))
                else:
                    counts["bad"] += 1
                    bad.append(f"{r.status_code} {r.text[:200]}")

    async def fire() -> None:
        for at, action in events:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            action()

    await asyncio.gather(fire(), *(client(i) for i in range(clients)))
    # The rate once every slot is busy, over the run's own time (requests still running at its end finish after).
    warm = [t for t in done_at if min(2.0, seconds / 4) <= t <= seconds]
    span = seconds - min(2.0, seconds / 4)
    return counts | {"per_s": round(len(warm) / span, 2), "bad_examples": bad[:5]}


def audit_counts(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as c:
        return dict(c.execute("SELECT outcome, count(*) FROM audit WHERE action = 'chat' GROUP BY outcome"))


def throughput(work: Path, url: str, args) -> list[dict]:  # noqa: ANN001
    rows = []
    for n in [int(x) for x in args.engines.split(",")]:
        engines = [SimEngine(tokens_per_s=args.tokens_per_s, tokens=args.tokens, batch=args.concurrency).start()
                   for _ in range(n)]
        dep = Deployment(work / f"n{n}", url)
        dep.engines([e.url for e in engines], args.concurrency)
        urls = dep.start(2)
        try:
            result = asyncio.run(load(urls, dep.key, clients=2 * n * args.concurrency + 2, seconds=args.seconds))
        finally:
            dep.stop()
            for e in engines:
                e.kill()
        rows.append({"engines": n, **result, "most_at_once_per_engine": max(e.most for e in engines)})
        console.print(f"  {n} engine(s): {result['per_s']} requests/s")
    single = rows[0]["per_s"]
    for r in rows:
        r["vs_linear"] = round(r["per_s"] / (r["engines"] * single), 3) if single else None
    return rows


def real_engines(work: Path, url: str, args) -> list[dict]:  # noqa: ANN001
    """The same load over 1 and 2 real llama.cpp servers (`python -m llama_cpp.server`, the packaged
    Qwen2.5-Coder-0.5B, one thread each, one request at a time) on this machine's 2 cores, which the replicas,
    PostgreSQL and the clients share."""
    from inhouse.models.registry import Registry
    from tests.helpers import LlamaServer

    gguf = Registry(work / "models").resolve("qwen2.5-coder-0.5b")[1]
    rows = []
    for n in (1, 2):
        engines = [LlamaServer(gguf, "sim", work / f"real{n}-{i}.log", n_ctx=512, threads=1).start()
                   for i in range(n)]
        dep = Deployment(work / f"real{n}", url)
        dep.engines([e.url for e in engines], 1, engine="llamacpp")
        urls = dep.start(2)
        try:
            result = asyncio.run(load(urls, dep.key, clients=2 * n + 1, seconds=args.real_seconds, timeout=120,
                                      max_tokens=args.real_tokens))
        finally:
            dep.stop()
            for e in engines:
                e.stop()
        rows.append({"engines": n, **result})
        console.print(f"  {n} real engine(s): {result['per_s']} requests/s")
    for r in rows:
        r["vs_linear"] = round(r["per_s"] / (r["engines"] * rows[0]["per_s"]), 3) if rows[0]["per_s"] else None
    return rows


def faults(work: Path, url: str, args) -> dict:  # noqa: ANN001
    engines = [SimEngine(tokens_per_s=args.tokens_per_s, tokens=args.tokens, batch=args.concurrency).start()
               for _ in range(2)]
    dep = Deployment(work / "faults", url)
    dep.engines([e.url for e in engines], args.concurrency)
    urls = dep.start(2)
    before = audit_counts(url)
    seconds = max(args.seconds, 16)
    events = [(seconds / 4, engines[0].kill), (seconds / 2, lambda: os.kill(dep.replicas[0][0].pid, signal.SIGKILL))]
    try:
        result = asyncio.run(load(urls, dep.key, clients=4 * args.concurrency, seconds=seconds, events=events))
    finally:
        dep.stop()
        for e in engines:
            e.kill()
    after = audit_counts(url)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    return result | {"audit": delta, "audit_ok_vs_200": [delta.get("ok", 0), result["ok"]],
                     "lost": max(0, result["ok"] - delta.get("ok", 0))}


def restart_mid_ingest(work: Path, url: str, base: Path) -> dict:
    from inhouse.store.postgres import PostgresStore

    docs = work / "docs"
    docs.mkdir(parents=True)
    for i in range(300):
        (docs / f"doc{i:03d}.md").write_text(f"# 문서 {i}\n\n반품 규정 {i}번: 수령 후 {i % 30 + 1}일 이내. "
                                             f"Rule {i}: returns within {i % 30 + 1} days.\n" * 20, "utf-8")
    dep = Deployment(work / "ingest", url)
    proc = subprocess.Popen([*CLI, "ingest", str(docs), "--tenant", "bulk", "--json"], env=dep.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    t0 = time.monotonic()
    pgserver.restart(base)
    down = time.monotonic() - t0
    out, err = proc.communicate(timeout=600)
    first = json.loads(out) if out.strip() else {"error": err.strip()[-300:]}
    if "summary" in first:
        errors = sorted({f["error"][:200] for f in first["files"] if f["status"] == "failed"})
        first = first["summary"] | {"errors": errors[:3]}
    second = json.loads(dep.run("ingest", str(docs), "--tenant", "bulk", "--json"))["summary"]
    store = PostgresStore(url)
    result = {"first_ingest": first, "second_ingest": second, "restart_s": round(down, 2),
              "documents": store.stats(tenant="bulk")["documents"], "check": store.check()}
    store.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--engines", default="1,2,4,8")
    ap.add_argument("--tokens-per-s", type=float, default=40.0)
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--real-seconds", type=float, default=60.0, help="each real-engine run (0: skip)")
    ap.add_argument("--real-tokens", type=int, default=32, help="max_tokens of each real-engine request")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="inhouse-scale-"))
    base = work / "pg"
    url = pgserver.start(base)
    try:
        console.print("[bold]throughput against engine count[/bold]")
        rows = throughput(work, url, args)
        real = real_engines(work, url, args) if args.real_seconds else []
        console.print("[bold]faults[/bold]")
        fault = faults(work, url, args)
        console.print("[bold]PostgreSQL restarted mid-ingest[/bold]")
        ingest = restart_mid_ingest(work, url, base)
    finally:
        pgserver.stop(base)
    out = {"setup": {"replicas": 2, "tokens_per_s": args.tokens_per_s, "tokens": args.tokens,
                     "concurrency_per_engine": args.concurrency, "seconds": args.seconds,
                     "one_engine_ideal_per_s": round(args.concurrency * args.tokens_per_s / args.tokens, 2)},
           "throughput": rows, "real_engines": real, "faults": fault, "restart_mid_ingest": ingest}
    atomic_write_json(ROOT / "bench" / "results" / "scale.json", out)

    t = Table(title="Chat requests/s through 2 replicas, by simulated engines (same run)")
    for c in ("engines", "requests/s", "N × one engine", "ratio", "errors", "most at once per engine"):
        t.add_column(c)
    for r in rows:
        t.add_row(str(r["engines"]), str(r["per_s"]), str(round(r["engines"] * rows[0]["per_s"], 2)),
                  str(r["vs_linear"]), str(r["bad"] + r["hung"]), str(r["most_at_once_per_engine"]))
    console.print(t)
    if real:
        r = Table(title="Real llama.cpp engines (Qwen2.5-Coder-0.5B, 1 thread each) on this 2-core machine")
        for c in ("engines", "requests/s", "ratio to N × one", "errors"):
            r.add_column(c)
        for x in real:
            r.add_row(str(x["engines"]), str(x["per_s"]), str(x["vs_linear"]), str(x["bad"] + x["hung"]))
        console.print(r)
    f = Table(title="Faults: an engine killed at ¼, a replica killed (SIGKILL) at ½ of the run")
    for c in ("200", "clean 503/429", "retried on the other replica", "500s / other", "hung", "audit ok / 200s"):
        f.add_column(c)
    f.add_row(str(fault["ok"]), str(fault["refused_clean"]), str(fault["retried"]), str(fault["bad"]),
              str(fault["hung"]), f"{fault['audit_ok_vs_200'][0]} / {fault['audit_ok_vs_200'][1]}")
    console.print(f)
    console.print(f"restart mid-ingest: first {ingest['first_ingest']}, second {ingest['second_ingest']}, "
                  f"documents {ingest['documents']}, check {ingest['check'] or 'clean'}")


if __name__ == "__main__":
    main()
