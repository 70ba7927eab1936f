"""Writes labelled.jsonl: the labelled PII set used by tests and bench/pii.py (seeded, reproducible).

Run: `python tests/data/pii/generate.py` (rewrites labelled.jsonl next to this file).

Each line is {"id", "lang", "kind": positive|negative, "category", "text", "spans": [[type, start, end]]}.
Positives are sentences (Korean and English) that carry one or two pieces of PII at labelled offsets.
Hard negatives carry look-alikes that are not PII: order numbers, dates, product codes, phone-like serials,
numbers that fail their checksum, version strings, amounts, role words next to honorifics.

The checksums are implemented here from their public definitions, independently of inhouse.guard.pii,
so the set does not inherit the detector's bugs.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).with_name("labelled.jsonl")
rng = random.Random(20261123)

SURNAMES = (
    "김이박최정강조윤장임한오서신권황안송류홍전고문양손배백허남심노하곽성차주우구민진지엄채원천방공현함"
    "변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용예경봉"
)
GIVEN = "민서지현준우영수진호은경성희정연하윤아도혜재동소승미유나상태원석철훈주예채건시율수빈다인규환한솔보람"
EN_FIRST = [
    "John", "Jane", "Michael", "Sarah", "David", "Emily", "James", "Olivia", "Daniel", "Grace", "Minsu", "Jiyoung",
]
EN_LAST = ["Smith", "Doe", "Kim", "Lee", "Park", "Brown", "Johnson", "Choi", "Garcia", "Miller", "Wilson", "Taylor"]
BANKS = [
    ("국민은행", "KB Kookmin Bank", (6, 2, 6)),
    ("신한은행", "Shinhan Bank", (3, 3, 6)),
    ("우리은행", "Woori Bank", (4, 3, 6)),
    ("하나은행", "Hana Bank", (3, 6, 5)),
    ("농협", "NH Bank", (3, 4, 4, 2)),
    ("기업은행", "IBK", (3, 6, 2, 3)),
    ("카카오뱅크", "Kakao Bank", (4, 2, 7)),
]
AREAS = [
    "02", "031", "032", "033", "041", "042", "043", "044",
    "051", "052", "053", "054", "055", "061", "062", "063", "064",
]


def digits(n: int, first_nonzero: bool = False) -> str:
    s = "".join(str(rng.randint(0, 9)) for _ in range(n))
    return (str(rng.randint(1, 9)) + s[1:]) if first_nonzero and n else s


# --- checksums (public definitions) ---


def rrn_check(d12: str, foreigner: bool) -> int:
    w = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    s = sum(int(a) * b for a, b in zip(d12, w, strict=True))
    return (13 - s % 11) % 10 if foreigner else (11 - s % 11) % 10


def luhn_digit(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return (10 - total % 10) % 10


def brn_check(d9: str) -> int:
    w = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    s = sum(int(a) * b for a, b in zip(d9, w, strict=True)) + int(d9[8]) * 5 // 10
    return (10 - s % 10) % 10


# --- value makers ---


def birth() -> date:
    return date(1940, 1, 1) + timedelta(days=rng.randint(0, (date(2020, 9, 1) - date(1940, 1, 1)).days))


def rrn(valid: bool = True, foreigner: bool = False, hyphen: bool = True) -> str:
    b = birth()
    g = (5 if b.year < 2000 else 7) if foreigner else (1 if b.year < 2000 else 3)
    g += rng.randint(0, 1)
    d12 = b.strftime("%y%m%d") + str(g) + digits(5)
    c = rrn_check(d12, foreigner)
    if not valid:
        c = (c + rng.randint(1, 9)) % 10
    s = d12 + str(c)
    return s[:6] + "-" + s[6:] if hyphen else s


def phone() -> str:
    r = rng.random()
    sep = rng.choice(["-", "-", "-", "", " ", "."])
    if r < 0.45:
        return f"010{sep}{rng.randint(2000, 9999)}{sep}{digits(4)}"
    if r < 0.55:
        return f"01{rng.choice('16789')}{sep}{rng.randint(200, 999)}{sep}{digits(4)}"
    if r < 0.85:
        area = rng.choice(AREAS)
        mid = str(rng.randint(200, 999)) if rng.random() < 0.4 else str(rng.randint(2000, 9999))
        return f"{area}{sep}{mid}{sep}{digits(4)}"
    if r < 0.93:
        return f"070-{rng.randint(2000, 9999)}-{digits(4)}"
    return f"+82-10-{rng.randint(2000, 9999)}-{digits(4)}"


def account() -> tuple[str, str, str]:
    ko, en, groups = rng.choice(BANKS)
    parts = [digits(g, first_nonzero=(i == 0)) for i, g in enumerate(groups)]
    joined = "-".join(parts) if rng.random() < 0.8 else "".join(parts)
    return ko, en, joined


def card(valid: bool = True) -> str:
    prefix = rng.choice(["4", "51", "52", "53", "54", "55", "9410", "6243", "3562", "2221"])
    if prefix == "37x":
        prefix = "37"
    body = prefix + digits(15 - len(prefix))
    c = luhn_digit(body)
    if not valid:
        c = (c + rng.randint(1, 9)) % 10
    s = body + str(c)
    sep = rng.choice(["-", " ", "", "-"])
    return sep.join(s[i : i + 4] for i in range(0, 16, 4))


def amex() -> str:
    body = "37" + digits(12)
    s = body + str(luhn_digit(body))
    return f"{s[:4]}-{s[4:10]}-{s[10:]}"


def email() -> str:
    user = rng.choice(["kim", "lee.jh", "park_s", "minsu.choi", "j.doe", "hong123", "support.team", "yuna+bank"])
    dom = rng.choice(["example.com", "bank.co.kr", "naver.com", "daum.net", "corp.example.kr", "mail.go.kr"])
    return f"{user}{rng.randint(1, 999) if rng.random() < 0.5 else ''}@{dom}"


def passport() -> str:
    if rng.random() < 0.6:
        return rng.choice("MS") + digits(8)
    return "M" + digits(3) + rng.choice("ABCDEFGHJK") + digits(4)


def licence() -> str:
    if rng.random() < 0.75:
        code = rng.randint(11, 28)  # region codes 11-26 and 28; 27 is not issued
        return f"{28 if code == 27 else code}-{rng.randint(0, 99):02d}-{digits(6)}-{digits(2)}"
    region = rng.choice(["서울", "부산", "경기", "대구", "인천", "제주"])
    return f"{region} {rng.randint(0, 99):02d}-{digits(6)}-{digits(2)}"


def brn(valid: bool = True, hyphen: bool = True) -> str:
    d9 = digits(3, True) + f"{rng.randint(1, 99):02d}" + digits(4)
    c = brn_check(d9)
    if not valid:
        c = (c + rng.randint(1, 9)) % 10
    s = d9 + str(c)
    return f"{s[:3]}-{s[3:5]}-{s[5:]}" if hyphen else s


def ip() -> str:
    first = rng.choice([10, 172, 192, 211, 58, 121, 203, 8])
    return ".".join(str(x) for x in (first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)))


def ko_name() -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([2, 2, 2, 1])))


def en_name() -> str:
    return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"


# --- templates: {X} is the PII slot ---

POS: dict[str, list[tuple[str, str]]] = {
    "RRN": [
        ("ko", "주민등록번호: {X}"), ("ko", "고객 주민번호 {X} 확인 완료"),
        ("ko", "본인 확인을 위해 {X} 를 입력하셨습니다."), ("ko", "가입 신청서(주민등록번호 {X})를 접수했습니다."),
        ("en", "Resident registration number {X} was verified."),
        ("en", "RRN: {X}"), ("ko", "{X} 번호로 조회된 고객입니다."),
    ],
    "FRN": [
        ("ko", "외국인등록번호 {X}"), ("en", "Alien registration no. {X} on file."),
        ("ko", "외국인 고객 등록번호는 {X} 입니다."),
    ],
    "PHONE": [
        ("ko", "연락처: {X}"), ("ko", "휴대폰 {X}로 연락 바랍니다."), ("ko", "고객이 {X} 번호로 전화를 주셨습니다."),
        ("en", "Please call me at {X} after 6pm."), ("en", "Phone: {X}"), ("ko", "담당 지점 전화번호는 {X}입니다."),
        ("en", "The customer left {X} as a callback number."), ("ko", "문자 수신 번호({X}) 변경 요청"),
    ],
    "ACCOUNT": [
        ("ko", "{B} 계좌 {X}로 입금해 주세요."), ("ko", "환불 계좌: {B} {X}"),
        ("ko", "{B} {X} (예금주 본인)으로 송금 완료"),
        ("en", "Please wire the refund to account {X} at {E}."), ("en", "Account number: {X} ({E})"),
        ("ko", "입금 계좌번호 {X}"), ("ko", "자동이체 출금계좌 {B} {X} 등록"),
    ],
    "CARD": [
        ("ko", "카드번호 {X} 결제 승인"), ("ko", "고객이 불러준 카드 {X}의 분실 신고"),
        ("en", "Card number {X} was charged twice."),
        ("en", "Paid with card {X}."), ("ko", "신용카드({X}) 해지 요청"),
    ],
    "EMAIL": [
        ("ko", "이메일 {X} 으로 보내 주세요."), ("ko", "회신 주소: {X}"), ("en", "Contact me at {X} please."),
        ("en", "Email: {X}"), ("ko", "고객 메일({X})로 안내문 발송"),
    ],
    "PASSPORT": [
        ("ko", "여권번호 {X}"), ("ko", "여권 번호: {X} (만료 2030)"), ("en", "Passport No. {X}"),
        ("en", "passport number {X} was scanned at the branch."),
    ],
    "DRIVER_LICENSE": [
        ("ko", "운전면허번호 {X}"), ("ko", "신분증(운전면허 {X}) 사본 제출"), ("en", "Driver's license {X} verified."),
        ("en", "ID checked: driver license {X}"),
    ],
    "BRN": [
        ("ko", "사업자등록번호 {X}"), ("ko", "거래처 사업자번호 {X} 확인"), ("en", "Business registration number {X}"),
        ("en", "Vendor BRN: {X}"), ("ko", "(주)한빛상사 {X} 세금계산서 발행"),
    ],
    "IP": [
        ("ko", "접속 IP {X} 에서 로그인 시도"), ("en", "Login from {X} was blocked."), ("en", "client_ip={X}"),
        ("ko", "고객 단말 주소 {X} 차단 요청"),
    ],
}
NAME_TEMPLATES = [
    ("ko", "{X} 고객님, 안녕하세요."), ("ko", "{X}님께서 문의하신 내용입니다."),
    ("ko", "{X} 씨가 지점을 방문했습니다."),
    ("ko", "고객명: {X}"), ("ko", "성명 {X}"), ("ko", "예금주: {X}"), ("ko", "담당자 {X} 과장님께 전달"),
    ("ko", "이름: {X}"), ("ko", "{X}님의 대출 상담 기록"), ("ko", "수령인 {X}"),
    ("en", "Dear Mr. {E},"), ("en", "Customer: {E}"), ("en", "Name: {E}"), ("en", "Ms. {E} called about her loan."),
]

NEG: list[tuple[str, str, object]] = []  # (category, lang, maker)


def neg(category: str, lang: str):
    def deco(fn):
        NEG.append((category, lang, fn))
        return fn

    return deco


@neg("order_number", "ko")
def _n1() -> str:
    return f"주문번호 {date(2024, rng.randint(1, 12), rng.randint(1, 28)).strftime('%Y%m%d')}{digits(5)} 배송 준비 중"


@neg("order_number", "en")
def _n2() -> str:
    return f"Order #{rng.randint(10**9, 10**12)} has shipped."


@neg("order_number", "ko")
def _n3() -> str:
    return f"주문번호: {rrn(valid=False, hyphen=False)} 취소 접수"


@neg("order_number", "en")
def _n3b() -> str:
    return f"Order no. 010{rng.randint(2000, 9999)}{digits(4)} is ready for pickup."


@neg("tracking_number", "ko")
def _n4() -> str:
    return f"운송장 번호 {digits(4)}-{digits(4)}-{digits(4)} 조회"


@neg("tracking_number", "en")
def _n5() -> str:
    return f"Tracking number {card(valid=False)} (CJ Logistics)"


@neg("date", "ko")
def _n6() -> str:
    d = date(2000, 1, 1) + timedelta(days=rng.randint(0, 9000))
    return rng.choice([
        f"{d:%Y-%m-%d} 회의록", f"{d:%Y.%m.%d} 기준 잔액", f"계약일 {d:%Y%m%d}",
        f"{d.year}년 {d.month}월 {d.day}일 시행",
    ])


@neg("date", "en")
def _n7() -> str:
    d = date(2000, 1, 1) + timedelta(days=rng.randint(0, 9000))
    return rng.choice([
        f"Effective {d:%Y-%m-%d}.", f"Meeting on {d:%m/%d/%Y} at 10:00.", f"Timestamp {d:%Y%m%d}{digits(6)}",
    ])


@neg("product_code", "ko")
def _n8() -> str:
    return rng.choice([
        f"모델 {rng.choice('MSRG')}{digits(8)} 재고 있음",
        f"제품코드 P-010-{digits(4)}-{digits(4)}",
        f"품번 KR-{digits(3)}-{digits(2)}-{digits(5)}",
        f"상품코드 {digits(3)}-{digits(2)}-{digits(5)}A",
    ])


@neg("product_code", "en")
def _n9() -> str:
    return rng.choice([
        f"SKU AB-{digits(4)}-{digits(4)} is out of stock.",
        f"Part M{digits(8)} replaced under warranty.",
        f"Model SM-{digits(4)}N{digits(2)} firmware",
        f"Item code {digits(3)}-{digits(2)}-{digits(5)}X",
    ])


@neg("phone_like_serial", "ko")
def _n10() -> str:
    return rng.choice([
        f"시리얼 번호 010{rng.randint(2000, 9999)}{digits(4)}",
        f"S/N 02{rng.randint(200, 999)}{digits(4)} 장비 교체",
        f"장비 SN010{rng.randint(2000, 9999)}{digits(4)} 점검",
        f"일련번호 {rng.choice(AREAS)}-{rng.randint(200, 999)}-{digits(4)}",
    ])


@neg("phone_like_serial", "en")
def _n11() -> str:
    return rng.choice([
        f"Serial 010{rng.randint(2000, 9999)}{digits(4)} failed QA.",
        f"Device ID KR010{rng.randint(2000, 9999)}{digits(4)}",
        f"Ticket 02-{rng.randint(200, 999)}-{digits(4)} closed.",
        f"Call center 1588-{digits(4)} or 1577-{digits(4)}",
    ])


@neg("invalid_rrn", "ko")
def _n12() -> str:
    return rng.choice([
        f"주민번호 {rrn(valid=False)} (오류)",
        f"{digits(2)}{rng.randint(13, 19)}{rng.randint(10, 28)}-1{digits(6)} 형식 오류",
    ])


@neg("invalid_card", "en")
def _n13() -> str:
    return f"Card {card(valid=False)} was declined (invalid number)."


@neg("invalid_card", "ko")
def _n13b() -> str:
    return f"카드번호 {card(valid=False)} 는 유효하지 않습니다."


@neg("invalid_brn", "ko")
def _n14() -> str:
    return f"사업자등록번호 {brn(valid=False)} 조회 결과 없음"


@neg("invalid_phone", "ko")
def _n15() -> str:
    return rng.choice([
        f"수신거부 080-{rng.randint(200, 999)}-{digits(4)}", f"번호 010-0{digits(3)}-{digits(4)} 은 없는 번호",
        f"내선 {digits(4)}번", f"고객센터 1588-{digits(4)}",
    ])


@neg("version", "en")
def _n16() -> str:
    return rng.choice([
        f"Upgraded to v{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}",
        f"version {rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 999)} released",
        f"Windows 10.0.{rng.randint(10000, 22000)}.{rng.randint(0, 999)}", f"OID 1.3.6.1.4.1.{rng.randint(100, 60000)}",
    ])


@neg("version", "ko")
def _n17() -> str:
    return f"버전 {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)} 배포 완료"


@neg("amount", "ko")
def _n18() -> str:
    return rng.choice([f"대출 잔액 {rng.randint(1, 999):,}{rng.randint(100, 999)},{rng.randint(100, 999)}원",
                       f"입금액 {rng.randint(10, 99)},{rng.randint(100, 999)},{rng.randint(100, 999)}원 확인",
                       f"계좌 개설일 {date(2020, rng.randint(1, 12), rng.randint(1, 28)):%Y-%m-%d}"])


@neg("amount", "en")
def _n19() -> str:
    return (
        f"The account balance is {rng.randint(1, 999)},{rng.randint(100, 999)},{rng.randint(100, 999)}"
        " KRW as of today."
    )


@neg("role_word", "ko")
def _n20() -> str:
    return rng.choice([
        "고객님, 안녕하세요. 문의 주셔서 감사합니다.", "선생님께서 말씀하신 내용", "담당자: 미정", "이름: 없음",
        "사장님께 보고 드립니다.", "회원님의 등급이 변경되었습니다.", "여러분 모두 수고하셨습니다.",
        "마음씨 좋은 이웃", "홍보팀 팀장님 회의", "고객명: 미기재", "아저씨가 오셨어요", "과장님 결재 부탁드립니다",
    ])


@neg("role_word", "en")
def _n21() -> str:
    return rng.choice(["Dear Customer, thank you for your patience.", "Name: N/A", "Customer: Anonymous",
                       "Contact: Support Team", "Customer: Unknown", "Name: Test"])


@neg("no_context_digits", "ko")
def _n22() -> str:
    return rng.choice([
        f"회의실 코드 {digits(3, True)}-{digits(3)}-{digits(6)}", f"문서번호 {digits(6, True)}-{digits(2)}-{digits(6)}",
        f"결재 번호 {digits(12, True)}", f"접수번호 {digits(4)}-{digits(6)}",
    ])


@neg("email_like", "en")
def _n23() -> str:
    return rng.choice([
        "Installed pkg@1.2.3 from the mirror.", "Mention @kim_minsu in the thread.", "ssh admin@localhost",
        "user@host is not an address", "Use the name@domain placeholder.",
    ])


@neg("ip_like", "en")
def _n24() -> str:
    return rng.choice([
        f"{rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)} is invalid",
        f"Section 3.{rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)} of the policy",
        f"ratio 1.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
    ])


@neg("passport_like", "en")
def _n25() -> str:
    return rng.choice([f"Invoice M{digits(8)} paid.", f"Batch S{digits(8)} approved.", f"Ref G{digits(3)}A{digits(4)}"])


def positives() -> list[dict]:
    out = []
    makers = {
        "RRN": lambda: rrn(hyphen=rng.random() < 0.8),
        "FRN": lambda: rrn(foreigner=True, hyphen=rng.random() < 0.8),
        "PHONE": phone,
        "CARD": lambda: card() if rng.random() < 0.85 else amex(),
        "EMAIL": email,
        "PASSPORT": passport,
        "DRIVER_LICENSE": licence,
        "BRN": lambda: brn(hyphen=rng.random() < 0.85),
        "IP": ip,
    }
    counts = {"RRN": 36, "FRN": 30, "PHONE": 48, "ACCOUNT": 36, "CARD": 34, "EMAIL": 32, "PASSPORT": 30,
              "DRIVER_LICENSE": 30, "BRN": 32, "IP": 30}
    for kind, n in counts.items():
        for i in range(n):
            lang, tpl = POS[kind][i % len(POS[kind])]
            if kind == "ACCOUNT":
                ko, en, value = account()
                tpl = tpl.replace("{B}", ko).replace("{E}", en)
            else:
                value = makers[kind]()
            start = tpl.index("{X}")
            text = tpl.replace("{X}", value)
            out.append({"lang": lang, "kind": "positive", "category": kind, "text": text,
                        "spans": [[kind, start, start + len(value)]]})
    for i in range(44):
        lang, tpl = NAME_TEMPLATES[i % len(NAME_TEMPLATES)]
        value = ko_name() if lang == "ko" else en_name()
        start = tpl.index("{X}" if "{X}" in tpl else "{E}")
        text = tpl.replace("{X}", value).replace("{E}", value)
        out.append({"lang": lang, "kind": "positive", "category": "NAME", "text": text,
                    "spans": [["NAME", start, start + len(value)]]})
    # Mixed records: a name and a phone (or email) in one sentence, as in CRM notes.
    for i in range(24):
        name, ph = ko_name(), phone() if i % 2 == 0 else email()
        kind2 = "PHONE" if i % 2 == 0 else "EMAIL"
        text = f"{name} 고객님 연락처 {ph} 로 회신 요망"
        a = len(name)
        b = text.index(ph)
        out.append({"lang": "ko", "kind": "positive", "category": "mixed", "text": text,
                    "spans": [["NAME", 0, a], [kind2, b, b + len(ph)]]})
    return out


def negatives(n: int = 340) -> list[dict]:
    out = []
    for i in range(n):
        category, lang, maker = NEG[i % len(NEG)]
        out.append({"lang": lang, "kind": "negative", "category": category, "text": maker(), "spans": []})
    return out


def main() -> None:
    records = positives() + negatives()
    with OUT.open("w", encoding="utf-8") as f:
        for i, r in enumerate(records):
            f.write(json.dumps({"id": i, **r}, ensure_ascii=False) + "\n")
    pos = sum(len(r["spans"]) for r in records)
    print(
        f"wrote {len(records)} records ({pos} PII spans, "
        f"{sum(r['kind'] == 'negative' for r in records)} hard negatives) to {OUT}"
    )


if __name__ == "__main__":
    main()
