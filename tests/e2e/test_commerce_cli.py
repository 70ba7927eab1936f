"""`inhouse commerce`: load a shop, read an order, a ticket handled by the real model, the audit log, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.main import main
from tests.conftest import TAU_RETAIL, require

TAU = require(TAU_RETAIL)
KO = Path(__file__).resolve().parents[2] / "bench" / "data" / "commerce"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("packaged_model")  # the session's 0.5B, not assembled again
def test_load_order_ticket_audit(capsys, inhouse_home: Path):
    code, out, _ = run(capsys, "commerce", "load", "--tenant", "shop", str(TAU), "--json")
    assert code == 0 and json.loads(out) == {"tenant": "shop", "users": 500, "orders": 1000, "products": 50}
    assert (inhouse_home / "commerce" / "shop" / "orders.sqlite").stat().st_mode & 0o077 == 0
    code, _, err = run(capsys, "commerce", "load", "--tenant", "shop", str(TAU))
    assert code != 0 and "pass --replace" in err and "Traceback" not in err

    code, out, _ = run(capsys, "commerce", "order", "--tenant", "shop", "#W5442520", "--json")
    assert code == 0 and json.loads(out)["status"] == "pending"
    code, out, _ = run(capsys, "commerce", "names", "--tenant", "shop", str(KO / "tau_catalog_ko.json"), "--json")
    assert code == 0 and json.loads(out)["names"] > 300
    # The shop's policy, readable by customers (no groups): the agent's replies cite it.
    code, _, _ = run(capsys, "ingest", str(TAU / "policy.md"), "--tenant", "shop")
    assert code == 0

    # No terminal and no --yes: whatever the model proposes is declined, so nothing changes.
    ticket = ("Hi, I'm Olivia Ito, zip code 80218. Please cancel my order #W5442520, I no longer need it and want "
              "a full refund.")
    code, out, err = run(capsys, "commerce", "ticket", "--tenant", "shop", ticket, "--model", "qwen2.5-coder-0.5b",
                         "--json")
    result = json.loads(out)
    assert code == 0 and result["user_id"] == "olivia_ito_3591" and result["model"] == "qwen2.5-coder-0.5b"
    assert {s["kind"] for s in result["steps"]} == {"form", "tool"}
    cancel = [ln for ln in result["lines"] if ln["tool"] == "cancel_pending_order"]
    assert cancel and cancel[0]["status"] == "not done" and cancel[0]["cite"] == 1
    assert result["citations"][0]["heading"].endswith("Cancel pending order")
    code, out, _ = run(capsys, "commerce", "order", "--tenant", "shop", "#W5442520", "--json")
    assert json.loads(out)["status"] == "pending"

    code, out, _ = run(capsys, "commerce", "audit", "--tenant", "shop", "--session", result["session"], "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["action"] == "find_user_id_by_name_zip" and rows[0]["outcome"] == "ok"
    assert all(r["outcome"] != "ok" for r in rows if r["action"] == "cancel_pending_order")


def test_errors_name_the_problem_and_the_fix(capsys, tmp_path: Path):
    cases = [
        (("commerce", "order", "--tenant", "nobody", "#W1"), "inhouse commerce load --tenant nobody"),
        (("commerce", "load", "--tenant", "../up", str(TAU)), "invalid tenant name"),
        (("commerce", "load", "--tenant", "shop", str(tmp_path)), "users.json is missing"),
        (("commerce", "ticket", "--tenant", "shop"), "give the customer's message"),
        (("commerce", "names", "--tenant", "nobody", str(KO / "tau_catalog_ko.json")),
         "inhouse commerce load --tenant nobody"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, *args)
        assert code != 0 and message in err and "Traceback" not in err, (args, err)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("users", "orders", "products"):
        (broken / f"{name}.json").write_text("{}" if name != "orders" else "{nope", "utf-8")
    code, _, err = run(capsys, "commerce", "load", "--tenant", "shop", str(broken))
    assert code != 0 and "orders.json is not valid JSON" in err
