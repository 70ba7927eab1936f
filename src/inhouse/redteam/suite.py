"""One red-team run: the planted corpus in a sandbox store, the answer-path cases, then the HTTP cases."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from inhouse.config import Settings
from inhouse.protocols import ChatModel
from inhouse.redteam.answers import CASES, Case, Report, WorstCaseChat, plant, run_case
from inhouse.redteam.http import HTTP_CASES, HttpCase, run_http
from inhouse.store import SQLiteStore
from inhouse.types import Principal


def run(tenant: str, settings: Settings, real_model: ChatModel | None = None, e2e_limit: int = 26,
        cases: Sequence[Case] = CASES, progress: Callable[[str, int, int], None] | None = None,
        max_tokens: int = 160, guarded: bool = True, http_cases: Sequence[HttpCase] = HTTP_CASES) -> Report:
    """Every case through the worst-case model, up to `e2e_limit` e2e cases through `real_model`, and the
    HTTP cases against a real server.

    `guarded=False` runs the answer-path cases with the reader view's screening and masking off (store
    permissions stay on): the baseline that shows what the guard stops. The server has no such switch, so
    that run has no HTTP cases."""
    report = Report(tenant)
    principal = Principal(tenant, "redteam", ("staff",))
    with tempfile.TemporaryDirectory(prefix="inhouse-redteam-") as tmp:
        work = Path(tmp)
        store = SQLiteStore(work / "inhouse.db")
        try:
            plant(store, settings, tenant, work / "corpus")
            worst = WorstCaseChat()
            for i, case in enumerate(cases):
                if progress:
                    progress("redteam", i, len(cases))
                report.results.append(run_case(store, settings, principal, case, worst, guarded=guarded))
            if real_model is not None and e2e_limit > 0:
                chosen = [c for c in cases if c.e2e][:e2e_limit]
                for i, case in enumerate(chosen):
                    if progress:
                        progress("redteam-e2e", i, len(chosen))
                    report.results.append(run_case(store, settings, principal, case, real_model, max_tokens,
                                                   guarded=guarded))
            if guarded and http_cases:
                report.results += run_http(store, settings, principal, work / "server", http_cases, progress)
        finally:
            store.close()
    return report
