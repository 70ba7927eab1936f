"""PII policies at ingest (keep, mask, tokenize, reject) on a real store, the vault, and `pii scan`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.errors import InputError, StoreError
from inhouse.guard.policy import for_reader
from inhouse.guard.vault import TOKEN, Vault
from inhouse.ingest import ingest
from inhouse.ingest.scan import scan_path
from inhouse.retrieve import search
from inhouse.store import SQLiteStore
from inhouse.types import Principal

CRM_KO = "# 상담 기록\n\n김민수 고객님(010-2345-6789)이 환불 계좌로 신한은행 110-123-456789 를 알려주셨습니다.\n"
CRM_EN = "Call notes\n\nMs. Jane Doe asked for a refund; email jane.doe@example.com, card 4532-0151-1283-0366.\n"
CLEAN = "# 반품 정책\n\n반품은 수령 후 14일 이내에 가능합니다.\n"
VALUES = ("김민수", "010-2345-6789", "110-123-456789", "Jane Doe", "jane.doe@example.com", "4532-0151-1283-0366")


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    d = tmp_path / "crm"
    d.mkdir()
    (d / "상담.md").write_text(CRM_KO, "utf-8")
    (d / "calls.txt").write_text(CRM_EN, "utf-8")
    (d / "반품.md").write_text(CLEAN, "utf-8")
    (d / "customers.csv").write_text("고객명,phone,rrn\n홍길동,010-9876-5432,900101-1234568\n", "utf-8")
    return d


def all_text(store) -> str:
    return "\n".join(t for _, t in store.iter_chunk_texts(0, 10_000))


def test_keep_stores_text_as_is(store, settings, crm: Path) -> None:
    ingest(store, settings, [crm], "bank", pii="keep")
    text = all_text(store)
    assert all(v in text for v in VALUES)


def test_mask_stores_no_pii_but_stays_searchable(store, settings, crm: Path) -> None:
    report = ingest(store, settings, [crm], "bank", pii="mask")
    assert report.count("added") == 4 and not report.failed
    text = all_text(store)
    assert not any(v in text for v in VALUES + ("900101-1234568", "홍길동", "010-9876-5432"))
    assert "[PHONE]" in text and "[ACCOUNT]" in text and "[CARD]" in text and "[RRN]" in text
    hits = search(store, Principal("bank", "kim"), "환불 계좌", settings, mode="lexical").hits
    assert hits and hits[0].doc_path == "상담.md" and "[ACCOUNT]" in hits[0].text


def test_tokenize_is_reversible_per_tenant_and_cleared_only(store, settings, crm: Path, inhouse_home: Path) -> None:
    vault = Vault(inhouse_home)
    ingest(store, settings, [crm], "bank", pii="tokenize", vault=vault)
    text = all_text(store)
    assert not any(v in text for v in VALUES)
    tokens = TOKEN.findall(text)
    assert {"NAME", "PHONE", "ACCOUNT", "EMAIL", "CARD", "RRN"} <= {t for t, _ in tokens}
    # Cleared reader of the same tenant: the values come back; an uncleared one sees only types.
    revealed = for_reader(text, Principal("bank", "lee", ("pii",)), vault)
    assert all(v in revealed for v in VALUES)
    masked = for_reader(text, Principal("bank", "kim", ("staff",)), vault)
    assert not TOKEN.search(masked) and "[PHONE]" in masked and not any(v in masked for v in VALUES)
    # Another tenant's key does not open this tenant's tokens.
    assert vault.reveal("other", text) == text
    # Same value, same token (within the tenant): counts and joins still work.
    assert vault.tokenize("bank", "010-2345-6789") == vault.tokenize("bank", "010-2345-6789")
    assert vault.tokenize("bank", "010-2345-6789") != vault.tokenize("other", "010-2345-6789")
    # The vault file holds no plaintext value.
    raw = (inhouse_home / "vault.db").read_bytes()
    assert not any(v.encode() in raw for v in VALUES)
    assert ((inhouse_home / "keys" / "bank.key").stat().st_mode & 0o777) == 0o600


def test_tampered_vault_row_is_refused(inhouse_home: Path) -> None:
    vault = Vault(inhouse_home)
    token = vault.tokenize("bank", "연락처 010-2345-6789")
    tid = TOKEN.search(token)[2]
    vault.close()
    conn = sqlite3.connect(inhouse_home / "vault.db")
    conn.execute("UPDATE tokens SET ciphertext = ? WHERE token = ?", (b"\x00" * 13, tid))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="tampered"):
        Vault(inhouse_home).reveal("bank", token)


def test_reject_refuses_files_with_pii_and_lands_the_rest(store, settings, crm: Path) -> None:
    report = ingest(store, settings, [crm], "bank", pii="reject")
    failed = {f.path: f.error for f in report.failed}
    assert set(failed) == {"상담.md", "calls.txt", "customers.csv"}
    assert "PHONE 1" in failed["상담.md"] and "'reject'" in failed["상담.md"] and "--pii mask" in failed["상담.md"]
    assert [d.path for d in store.list_documents("bank")] == ["반품.md"]
    assert "반품은 수령 후" in all_text(store)


def test_unknown_policy_is_an_input_error(store, settings, crm: Path) -> None:
    with pytest.raises(InputError, match="keep, mask, tokenize, reject"):
        ingest(store, settings, [crm], "bank", pii="hide")
    assert store.list_documents() == []


def test_scan_reports_types_and_places_without_values(crm: Path) -> None:
    report = scan_path(crm)
    by_path = {f.path: f for f in report.files}
    assert by_path["반품.md"].findings == []
    assert by_path["상담.md"].counts == {"PHONE": 1, "ACCOUNT": 1, "NAME": 1}
    assert by_path["calls.txt"].counts == {"CARD": 1, "EMAIL": 1, "NAME": 1}
    assert by_path["customers.csv"].counts == {"RRN": 1, "PHONE": 1, "NAME": 1}
    dumped = json.dumps(report.to_json(), ensure_ascii=False)
    assert not any(v in dumped for v in VALUES)
    assert report.to_json()["files_with_pii"] == 3


def test_cli_pii_scan_and_ingest_policy(capsys, crm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")
    assert main(["pii", "scan", str(crm), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["PHONE"] == 2 and data["files_scanned"] == 4
    assert main(["pii", "scan", str(crm)]) == 0
    assert "3 of 4 files contain PII" in capsys.readouterr().out
    code = main(["ingest", str(crm), "--tenant", "bank", "--pii", "reject", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["summary"]["added"] == 1 and report["summary"]["failed"] == 3
    assert main(["pii", "scan", str(crm / "missing")]) == 3
    assert "no such file" in capsys.readouterr().err


def test_cli_search_masks_pii_for_uncleared_readers(capsys, crm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")
    assert main(["ingest", str(crm), "--tenant", "bank", "--json"]) == 0
    capsys.readouterr()
    args = ["search", "환불 계좌", "--tenant", "bank", "--mode", "lexical", "--json"]
    assert main([*args, "--groups", "staff"]) == 0
    staff = capsys.readouterr().out
    assert "110-123-456789" not in staff and "[ACCOUNT]" in staff
    assert main([*args, "--groups", "staff,pii"]) == 0
    assert "110-123-456789" in capsys.readouterr().out


def test_cli_ingest_mask_masks_accounts_in_every_bank_grouping(capsys, tmp_path: Path, inhouse_home: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A 농협 단위 account (3-2-6-1) after 계좌 went into the store unmasked; a tracking number next to refund
    words is not an account and stays searchable."""
    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")
    d = tmp_path / "refunds"
    d.mkdir()
    (d / "환불.md").write_text(
        "# 환불 요청\n\n고객님 환불 계좌 301-01-123456-1 로 처리 부탁드립니다.\n\n"
        "계좌번호: 3333-12-3456789 (카카오뱅크), 반품 송장번호는 641234567890 입니다.\n", "utf-8")
    assert main(["ingest", str(d), "--tenant", "bank", "--pii", "mask", "--json"]) == 0
    capsys.readouterr()
    store = SQLiteStore(inhouse_home / "inhouse.db")
    try:
        text = all_text(store)
    finally:
        store.close()
    assert "301-01-123456-1" not in text and "3333-12-3456789" not in text
    assert text.count("[ACCOUNT]") == 2 and "641234567890" in text


def test_cli_pii_scan_previews_mask_neighbouring_values(capsys, tmp_path: Path) -> None:
    """Each finding's preview is a window of the text: the neighbours in it are masked too, even when the
    window cuts off what identifies them (the 계좌 before the account in the phone's preview)."""
    d = tmp_path / "notes"
    d.mkdir()
    (d / "변경.txt").write_text("환불 계좌를 다음과 같이 변경 요청합니다: 110-123-456789, 연락처 010-2345-6789\n",
                              "utf-8")
    assert main(["pii", "scan", str(d)]) == 0
    human = capsys.readouterr().out
    assert main(["pii", "scan", str(d), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["type"] for f in data["files"][0]["findings"]] == ["ACCOUNT", "PHONE"]
    for out in (human, json.dumps(data, ensure_ascii=False)):
        assert not any(part in out for part in ("110-123", "456789", "2345-6789")), out
