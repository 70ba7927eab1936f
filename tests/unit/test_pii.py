"""PII detectors: validated positives are found and masked, look-alikes are left alone (Korean and English)."""

from __future__ import annotations

import pytest

from inhouse.guard.pii import brn_checksum_ok, detect, luhn_ok, mask, rrn_checksum_ok


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("주민번호 900101-1234568 입니다", "RRN", "900101-1234568"),
        ("연락처 010-1234-5678로 전화 주세요", "PHONE", "010-1234-5678"),
        ("call me on 01098765432 tomorrow", "PHONE", "01098765432"),
        ("대표번호 02-345-6789", "PHONE", "02-345-6789"),
        ("Tel +82-10-2345-6789", "PHONE", "+82-10-2345-6789"),
        ("국민은행 계좌 123456-78-901234로 입금", "ACCOUNT", "123456-78-901234"),
        ("카드 4532-0151-1283-0366 결제", "CARD", "4532-0151-1283-0366"),
        ("email kim@example.co.kr please", "EMAIL", "kim@example.co.kr"),
        ("여권번호 M12345678", "PASSPORT", "M12345678"),
        ("운전면허 11-12-345678-90", "DRIVER_LICENSE", "11-12-345678-90"),
        ("사업자등록번호 123-45-67891", "BRN", "123-45-67891"),
        ("login from 192.168.0.1 failed", "IP", "192.168.0.1"),
        ("김철수 고객님 안녕하세요", "NAME", "김철수"),
        ("고객명: 홍길동", "NAME", "홍길동"),
        ("Dear Mr. John Smith,", "NAME", "John Smith"),
    ],
)
def test_detects(text: str, kind: str, value: str) -> None:
    found = [(m.type, m.text) for m in detect(text)]
    assert found == [(kind, value)]
    assert f"[{kind}]" in mask(text) and value not in mask(text)


@pytest.mark.parametrize(
    "text",
    [
        "주민번호 900101-1234567 (checksum wrong)",
        "주문번호 01012345678 배송 준비중",
        "order no. 4532015112830366 shipped",
        "v1.2.3.4 released",
        "고객님 안녕하세요",
        "모델 M12345678 재고 있음",
        "사업자등록번호 123-45-67890",
        "2024-01-15 회의",
        "pkg@1.2.3 installed",
        "고객센터 1588-1234",
    ],
)
def test_ignores_lookalikes(text: str) -> None:
    assert detect(text) == []
    assert mask(text) == text


def test_checksums() -> None:
    assert rrn_checksum_ok("9001011234568") and not rrn_checksum_ok("9001011234567")
    assert luhn_ok("4532015112830366") and not luhn_ok("4532015112830367")
    assert brn_checksum_ok("1234567891") and not brn_checksum_ok("1234567890")


def test_unknown_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="valid"):
        detect("x", types=["SSN"])


def test_labelled_set_precision_and_recall() -> None:
    """The committed labelled set (≥300 positives, ≥300 hard negatives): every type ≥ 0.95 both ways."""
    from bench.pii import evaluate, guard_detect, load

    records = load()
    assert sum(len(r["spans"]) for r in records) >= 300
    assert sum(r["kind"] == "negative" for r in records) >= 300
    assert {r["lang"] for r in records} == {"ko", "en"}
    scores = evaluate(records, guard_detect)
    weak = {t: s for t, s in scores.items() if s["precision"] < 0.95 or s["recall"] < 0.95}
    assert not weak, weak


def test_spec_set_precision_and_recall() -> None:
    """The set built from published format rules (tests/data/pii/spec.jsonl): every type ≥ 0.97 both ways."""
    from bench.pii import SPEC, evaluate, guard_detect, load

    records = load(SPEC)
    assert sum(len(r["spans"]) for r in records) >= 200
    assert sum(r["kind"] == "negative" for r in records) >= 200
    assert all(r["spec"] for r in records)
    scores = evaluate(records, guard_detect)
    assert all(s["tp"] + s["fn"] >= 10 for s in scores.values()), scores
    weak = {t: s for t, s in scores.items() if s["precision"] < 0.97 or s["recall"] < 0.97}
    assert not weak, weak


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        # bank accounts in the groupings banks issue, after 계좌/bank words or with the bank named after
        ("계좌 301-01-123456-1", "ACCOUNT", "301-01-123456-1"),  # 농협 단위 3-2-6-1
        ("환불받으실 계좌 474-58-566783-7 확인했습니다.", "ACCOUNT", "474-58-566783-7"),
        ("입금은 9476-0005-7380-5 (새마을금고)로 부탁드립니다", "ACCOUNT", "9476-0005-7380-5"),
        ("이체하실 계좌는 국민은행 419437 39 981402입니다.", "ACCOUNT", "419437 39 981402"),
        ("my bank account no. is 110-123-456789", "ACCOUNT", "110-123-456789"),
        ("A/C No: 228-24-602706-1", "ACCOUNT", "228-24-602706-1"),
        ("계좌 9001011234568", "ACCOUNT", "9001011234568"),  # 13 bare digits that also make a valid RRN
        # phones as people write them
        ("연락처 (02) 3589-1585", "PHONE", "(02) 3589-1585"),
        ("연락처((010)9908-1889)", "PHONE", "(010)9908-1889"),
        ("안심번호 0504-1234-5678", "PHONE", "0504-1234-5678"),
        ("Tel +82 (0)10 2345 6789", "PHONE", "+82 (0)10 2345 6789"),
        ("핸드폰: 010 - 1234 - 5678", "PHONE", "010 - 1234 - 5678"),
        ("주민번호 900101 - 1234568", "RRN", "900101 - 1234568"),
        ("카드 3782 822463 10005", "CARD", "3782 822463 10005"),
        ("mail jane+news@mail.example.co.kr", "EMAIL", "jane+news@mail.example.co.kr"),
        ("Login from 2001:db8::8a2e:370:7334 blocked", "IP", "2001:db8::8a2e:370:7334"),
        ("고객 단말 fe80::ac83:4aff:fe25:d7f0", "IP", "fe80::ac83:4aff:fe25:d7f0"),
        ("여권번호: M123A4567", "PASSPORT", "M123A4567"),
        ("면허번호 서울 11-24-123456-12", "DRIVER_LICENSE", "11-24-123456-12"),
    ],
)
def test_detects_real_world_variants(text: str, kind: str, value: str) -> None:
    assert [(m.type, m.text) for m in detect(text)] == [(kind, value)]
    assert value not in mask(text)


@pytest.mark.parametrize(
    "text",
    [
        "환불 요청하신 주문의 송장번호는 727768725605입니다.",  # tracking number after refund words
        "우체국택배 6012345678901 로 반송 부탁드립니다.",
        "이체 완료된 주문번호는 2024092098992 입니다.",
        "환불 관련 고객번호 81520424795 확인",
        "이체일시 20210713111213",
        "이체 금액 68130718500원 확인",
        "Wire transfer of KRW 7822958646 approved.",
        "주문번호는 01012345678",
        "법인등록번호 110111-1234564",  # a company number that passes the RRN check digit
        "운전면허 27-93-769130-50 조회 불가",  # region code 27 is not issued
        "subnet mask 255.255.255.0",
        "bind to 127.0.0.1 only",
        "localhost is ::1",
        "MAC 00:1A:2B:3C:4D:5E",
        "evens = xs[0::2]",
        "icon@2x.png",
        "git@github.com:inhouse/inhouse.git",
        "support+kr@company.com answers within a day",
        "한 달에 500파운드 넘게 주문한 고객은 5% 할인을 받습니다.",  # a verb before a title, not 주문한 the person
        "가입한 회원은 이용할 고객과 같습니다.",
    ],
)
def test_ignores_real_world_lookalikes(text: str) -> None:
    assert detect(text) == []


def test_scan_preview_masks_neighbouring_values() -> None:
    """A preview window can cut off the context that identifies a neighbour (계좌 before an account) or
    cut a value in half: every value in a preview is masked with what the whole text reveals."""
    from inhouse.ingest.scan import scan_text

    text = "환불 계좌를 다음과 같이 변경 요청합니다: 110-123-456789, 연락처 010-2345-6789"
    crm = "김민수 고객님(010-2345-6789)이 환불 계좌로 신한은행 110-123-456789 를 알려주셨습니다."
    for t in (text, crm):
        previews = [f.preview for f in scan_text(t)]
        assert len(previews) == len(detect(t))
        for p in previews:
            assert not any(part in p for part in ("110-123", "456789", "2345-6789", "김민수")), p
    assert [f.preview for f in scan_text(text)][1] == "니다: [ACCOUNT], 연락처 [PHONE]"


def test_mask_keeps_surrounding_text() -> None:
    text = "김민수 고객님(010-2345-6789, minsu@example.com)의 환불 계좌는 신한은행 110-123-456789 입니다."
    assert mask(text) == "[NAME] 고객님([PHONE], [EMAIL])의 환불 계좌는 신한은행 [ACCOUNT] 입니다."
    assert mask("") == "" and mask("no personal data here") == "no personal data here"
