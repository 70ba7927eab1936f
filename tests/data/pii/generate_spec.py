"""Writes spec.jsonl: a second labelled PII set, built from published format rules (seeded, reproducible).

Run: `python tests/data/pii/generate_spec.py` (rewrites spec.jsonl next to this file).

Same record format as labelled.jsonl ({"id", "lang", "kind", "category", "text", "spans"}) plus "spec":
the format rule a case follows (for a positive) or the rule that makes it not personal data (for a
negative). The values are built from those rules, never from inhouse.guard.pii, and the checksums are
implemented here from their public definitions, so the set does not inherit the detector's choices.

The rules, and where they come from:
- Bank accounts: the digit groupings banks print on passbooks and in their apps (see ACCOUNT_FORMATS).
  Banks change formats (mergers, new core systems), so these are the commonly published ones, not a
  registry; older groupings stay valid for existing accounts.
- Phones: the Korean numbering plan (과학기술정보통신부 전기통신번호관리세칙): 010 mobile with an 8-digit
  subscriber number, legacy 011/016-019, area codes 02 and 031-064, 070 internet phones, 050x personal
  (안심/평생) numbers; 15xx/16xx/18xx 대표번호, 080 toll-free and 060 information numbers belong to
  businesses and are not personal data. International form +82 with the trunk 0 dropped (E.164).
- Cards: ISO/IEC 7812 issuer prefixes (Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37 with 15
  digits, JCB 3528-3589, Diners 36 with 14 digits, Discover 6011/65, UnionPay 62 with 16-19 digits)
  and the Luhn check digit; numbers with a non-payment leading digit (1, 7, 8) are not cards.
- RRN / FRN (주민등록법 시행규칙, 출입국관리법): YYMMDD, a century/sex digit (1-4, 9/0 for residents,
  5-8 for foreigners), a mod-11 check digit (foreigner variant +2); numbers issued from 2020-10 carry a
  random serial and no check digit. 법인등록번호 has the same 6-7 shape but is a company's number.
- BRN (사업자등록번호): 3-2-5 digits, check digit with weights 1,3,7,1,3,7,1,3,5.
- Driver licence (도로교통법 시행규칙): region code 11-26 or 28 (or, on licences before 2011, the region
  name), 2-digit year, 6-digit serial, 2 check digits.
- Passport (여권법 시행령): type letter M/S/R/G/D and 8 digits (2008 e-passport), or the 2021 format
  M + 3 digits + a letter + 4 digits.
- Email: RFC 5322 dot-atom local part (with +tags) at a domain with a TLD; role mailboxes of an
  organisation and service accounts identify no person.
- IP: IPv4 dotted quad (each octet 0-255) and IPv6 (RFC 4291 full form, RFC 5952 compressed form);
  loopback, unspecified and netmask values identify no host.
- Names: a Korean surname (통계청 인구주택총조사 list) and 1-2 given-name syllables next to an
  honorific (님, 씨, 고객님) or after a label (성명, 예금주, 수령인); English names after a title.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).with_name("spec.jsonl")
rng = random.Random(20260214)

# --- checksums (public definitions) ------------------------------------------------------------------


def rrn_check(d12: str, foreigner: bool) -> int:
    """주민등록번호 check digit: weights 2..9,2..5, (11 - sum mod 11) mod 10; foreigners add 2."""
    s = sum(int(a) * b for a, b in zip(d12, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True))
    c = (11 - s % 11) % 10
    return (c + 2) % 10 if foreigner else c


def luhn_digit(body: str) -> int:
    """The Luhn check digit to append to `body` (ISO/IEC 7812-1 annex B)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def brn_check(d9: str) -> int:
    s = sum(int(a) * b for a, b in zip(d9, (1, 3, 7, 1, 3, 7, 1, 3, 5), strict=True)) + int(d9[8]) * 5 // 10
    return (10 - s % 10) % 10


def num(n: int, first_nonzero: bool = True) -> str:
    s = "".join(str(rng.randint(0, 9)) for _ in range(n))
    return (str(rng.randint(1, 9)) + s[1:]) if first_nonzero and n else s


# --- bank accounts ------------------------------------------------------------------------------------

# (Korean names as written, English name, groups, fixed prefix of the first group or "", spec note).
# Commonly published groupings; banks change formats, and old groupings stay in use for old accounts.
ACCOUNT_FORMATS: list[tuple[tuple[str, ...], str, tuple[int, ...], str, str]] = [
    (("KB국민은행", "국민은행", "KB"), "KB Kookmin Bank", (6, 2, 6), "", "KB국민 6-2-6 (14 digits)"),
    (("국민은행", "KB국민"), "Kookmin Bank", (3, 2, 4, 3), "", "KB국민 3-2-4-3 (12 digits, older accounts)"),
    (("신한은행", "신한"), "Shinhan Bank", (3, 3, 6), "110", "신한 3-3-6 (12 digits, 110/100 prefix)"),
    (("신한은행",), "Shinhan Bank", (3, 2, 6), "", "신한 3-2-6 (11 digits, older accounts)"),
    (("우리은행", "우리"), "Woori Bank", (4, 3, 6), "1002", "우리 4-3-6 (13 digits, 1002 personal prefix)"),
    (("하나은행", "하나"), "Hana Bank", (3, 6, 5), "", "하나 3-6-5 (14 digits)"),
    (("NH농협", "농협은행", "농협"), "NH NongHyup Bank", (3, 4, 4, 2), "3", "NH농협 3-4-4-2 (13 digits, 3xx prefix)"),
    (("농협", "지역농협", "단위농협"), "NongHyup", (3, 2, 6, 1), "", "NH농협 단위농협 3-2-6-1 (12 digits)"),
    (("IBK기업은행", "기업은행"), "IBK", (3, 6, 2, 3), "", "IBK기업 3-6-2-3 (14 digits)"),
    (("카카오뱅크",), "KakaoBank", (4, 2, 7), "3333", "카카오뱅크 4-2-7 (13 digits, 3333 prefix)"),
    (("토스뱅크",), "Toss Bank", (4, 4, 4), "1000", "토스뱅크 4-4-4 (12 digits, 1000 prefix)"),
    (("케이뱅크",), "K bank", (3, 3, 6), "100", "케이뱅크 3-3-6 (12 digits, 100 prefix)"),
    (("우체국",), "Korea Post", (6, 2, 6), "", "우체국 6-2-6 (14 digits)"),
    (("SC제일은행", "SC제일"), "SC First Bank", (3, 2, 6), "", "SC제일 3-2-6 (11 digits)"),
    (("새마을금고", "MG새마을금고"), "MG Saemaul", (4, 4, 4, 1), "9", "새마을금고 13 digits, 9 prefix, 4-4-4-1"),
    (("신협",), "Shinhyup", (13,), "13", "신협 13 digits (written without hyphens)"),
]

ACCOUNT_KO = [
    ("{B} {X}로 입금 부탁드립니다.", "bank name before"),
    ("환불 계좌: {B} {X}", "계좌 + bank before"),
    ("입금 계좌 {X} ({B})", "입금 계좌 before, bank after"),
    ("{B} 계좌번호 {X} (예금주 본인)", "계좌번호 before"),
    ("이체하실 계좌는 {B} {X}입니다.", "이체 + bank before"),
    ("송금처: {B} {X}", "송금 + bank before"),
    ("환불은 {X} ({B})로 진행됩니다.", "환불 before, bank after"),
    ("월급 통장 {B} {X} 변경 요청", "통장 before"),
    ("계좌 {X}", "bare 계좌 label"),
    ("자동이체 출금계좌 {X} 등록 완료", "자동이체 출금계좌 before"),
    ("고객님 명의의 {B} 계좌({X})로 환불해 드렸습니다.", "계좌( before"),
    ("{X} {B}로 이체해 주세요", "bank name right after"),
]
ACCOUNT_EN = [
    ("Account no. {X} ({E})", "account no. before"),
    ("Please wire the deposit to {E} account {X}.", "wire + account before"),
    ("acct {X} at {E}", "acct before"),
    ("A/C No: {X}", "A/C before"),
    ("Refund to bank account {X}, {E}.", "bank account before"),
    ("Beneficiary account: {X} ({E})", "beneficiary account before"),
]


def account_value(groups: tuple[int, ...], prefix: str, style: str) -> str:
    parts = []
    for i, g in enumerate(groups):
        p = prefix if i == 0 and prefix else ""
        parts.append(p + num(g - len(p), first_nonzero=i == 0 and not p) if len(p) < g else p[:g])
    if style == "bare" or len(groups) == 1:
        return "".join(parts)
    return (" " if style == "space" else "-").join(parts)


def accounts(n: int) -> list[dict]:
    out = []
    for i in range(n):
        names, en, groups, prefix, note = ACCOUNT_FORMATS[i % len(ACCOUNT_FORMATS)]
        style = rng.choices(["hyphen", "bare", "space"], [6, 3, 1])[0]
        value = account_value(groups, prefix, style)
        if i % 4 == 3:
            tpl, where = ACCOUNT_EN[(i // 4) % len(ACCOUNT_EN)]
            lang = "en"
        else:
            tpl, where = ACCOUNT_KO[i % len(ACCOUNT_KO)]
            lang = "ko"
        text, span = fill(tpl.replace("{B}", rng.choice(names)).replace("{E}", en), value)
        out.append(rec(lang, "positive", "ACCOUNT", f"{note}, {style}; context: {where}", text, [("ACCOUNT", *span)]))
    # The held-out case: 농협 단위 3-2-6-1 right after 계좌.
    value = account_value((3, 2, 6, 1), "", "hyphen")
    text, span = fill("환불받으실 계좌 {X} 확인했습니다.", value)
    out.append(rec("ko", "positive", "ACCOUNT", "NH농협 단위농협 3-2-6-1 after 계좌", text, [("ACCOUNT", *span)]))
    return out


# --- phones -------------------------------------------------------------------------------------------

AREAS = ["031", "032", "033", "041", "042", "043", "044", "051", "052", "053", "054", "055", "061", "062", "063", "064"]


def phone_value() -> tuple[str, str]:
    """A number from the numbering plan, written one of the ways people write it, and its rule."""
    kind = rng.choices(["010", "legacy", "02", "area", "070", "050x", "intl"], [10, 2, 3, 4, 2, 2, 4])[0]
    sub = num(4, False)
    sep = rng.choice(["-", "-", " ", ".", ""])
    if kind == "010":
        mid = str(rng.randint(2000, 9999))
        form = rng.choice(["plain", "plain", "paren"])
        if form == "paren":
            return f"(010){mid}-{sub}", "010 mobile, 8-digit subscriber, (010) parenthesised"
        return f"010{sep}{mid}{sep}{sub}", f"010 mobile, 8-digit subscriber, separator {sep!r}"
    if kind == "legacy":
        mid = str(rng.randint(200, 999)) if rng.random() < 0.5 else str(rng.randint(2000, 9999))
        return f"01{rng.choice('16789')}{sep}{mid}{sep}{sub}", "legacy 011/016-019 mobile, 3- or 4-digit exchange"
    if kind in ("02", "area"):
        area = "02" if kind == "02" else rng.choice(AREAS)
        mid = str(rng.randint(200, 999)) if rng.random() < 0.4 else str(rng.randint(2000, 9999))
        form = rng.choice(["plain", "plain", "paren", "paren_space"])
        if form == "paren":
            return f"({area}){mid}-{sub}", f"area code {area} in parentheses"
        if form == "paren_space":
            return f"({area}) {mid}-{sub}", f"area code {area} in parentheses, space"
        return f"{area}{sep}{mid}{sep}{sub}", f"area code {area}, exchange 2-9xx(x), separator {sep!r}"
    if kind == "070":
        return f"070{sep}{rng.randint(2000, 9999)}{sep}{sub}", "070 internet phone, 8-digit subscriber"
    if kind == "050x":
        mid = str(rng.randint(2000, 9999)) if rng.random() < 0.7 else str(rng.randint(200, 999))
        return (
            f"050{rng.choice('2345678')}-{mid}-{sub}",
            "050x personal (안심/평생) number relaying to a person's phone",
        )
    mid = str(rng.randint(2000, 9999))
    form = rng.choice(["+82-10-", "+82 10-", "+82 10 ", "+82 (0)10-", "+8210"])
    sep2 = " " if form == "+82 10 " else ("" if form == "+8210" else "-")
    return f"{form}{mid}{sep2}{sub}", f"E.164 +82 with trunk 0 dropped, written {form!r}"


PHONE_KO = ["연락처: {X}", "휴대폰 {X}로 연락 바랍니다.", "고객이 남긴 번호는 {X} 입니다.", "배송 기사님 연락처({X})",
            "전화번호 {X} 로 회신 요망", "{X}으로 문자 주세요"]
PHONE_EN = ["Call me at {X} after 6pm.", "Phone: {X}", "Mobile {X} (evenings only)", "Reach the customer on {X}."]


def phones(n: int) -> list[dict]:
    out = []
    for i in range(n):
        value, note = phone_value()
        lang = "en" if i % 3 == 2 else "ko"
        tpl = (PHONE_EN if lang == "en" else PHONE_KO)[i % len(PHONE_EN if lang == "en" else PHONE_KO)]
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "PHONE", note, text, [("PHONE", *span)]))
    return out


# --- cards --------------------------------------------------------------------------------------------

CARD_NETWORKS = [
    ("4", 16, (4, 4, 4, 4), "Visa 4, 16 digits"),
    ("5" + str(rng.randint(1, 5)), 16, (4, 4, 4, 4), "Mastercard 51-55, 16 digits"),
    (str(rng.randint(2221, 2720)), 16, (4, 4, 4, 4), "Mastercard 2221-2720, 16 digits"),
    ("37", 15, (4, 6, 5), "American Express 37, 15 digits, 4-6-5"),
    ("34", 15, (4, 6, 5), "American Express 34, 15 digits, 4-6-5"),
    (str(rng.randint(3528, 3589)), 16, (4, 4, 4, 4), "JCB 3528-3589, 16 digits"),
    ("36", 14, (4, 6, 4), "Diners Club 36, 14 digits, 4-6-4"),
    ("6011", 16, (4, 4, 4, 4), "Discover 6011, 16 digits"),
    ("62", 16, (4, 4, 4, 4), "UnionPay 62, 16 digits"),
    ("62", 19, (4, 4, 4, 4, 3), "UnionPay 62, 19 digits"),
]


def card_number(prefix: str, length: int, valid: bool = True) -> str:
    body = prefix + num(length - 1 - len(prefix), False)
    c = luhn_digit(body)
    return body + str(c if valid else (c + rng.randint(1, 9)) % 10)


def grouped(digits: str, groups: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for g in groups:
        out.append(digits[pos : pos + g])
        pos += g
    return sep.join(out)


CARD_KO = ["카드번호 {X} 결제 승인", "신용카드({X}) 분실 신고 접수", "결제 카드 {X} 로 환불 예정"]
CARD_EN = ["Card number {X} was charged twice.", "Paid with card {X}.", "Cardholder reported {X} stolen."]


def cards(n: int) -> list[dict]:
    out = []
    for i in range(n):
        prefix, length, groups, note = CARD_NETWORKS[i % len(CARD_NETWORKS)]
        sep = rng.choice(["-", " ", ""])
        value = grouped(card_number(prefix, length), groups, sep)
        lang = "en" if i % 2 else "ko"
        tpl = (CARD_EN if lang == "en" else CARD_KO)[i % 3]
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "CARD", f"{note}, Luhn, separator {sep!r}", text, [("CARD", *span)]))
    return out


# --- RRN / FRN ----------------------------------------------------------------------------------------


def birth(lo: date = date(1935, 1, 1), hi: date = date(2020, 9, 30)) -> date:
    return lo + timedelta(days=rng.randint(0, (hi - lo).days))


def rrn_value(foreigner: bool = False, valid: bool = True, b: date | None = None) -> str:
    b = b or birth()
    g = (5 if b.year < 2000 else 7) if foreigner else (1 if b.year < 2000 else 3)
    d12 = f"{b:%y%m%d}{g + rng.randint(0, 1)}{num(5, False)}"
    c = rrn_check(d12, foreigner)
    return d12 + str(c if valid else (c + rng.randint(1, 9)) % 10)


def rrns(n_rrn: int, n_frn: int) -> list[dict]:
    out = []
    seps = [("-", "hyphen"), ("", "no hyphen"), (" - ", "spaces around the hyphen"), ("-", "hyphen")]
    ko = ["주민등록번호: {X}", "주민번호 {X} 로 본인 확인", "신청인 주민등록번호({X})"]
    en = ["Resident registration number {X} verified.", "RRN: {X}"]
    for i in range(n_rrn):
        random_serial = i % 5 == 4
        if random_serial:  # issued from 2020-10: random serial, so any last digit
            d = birth(date(2020, 10, 5), date(2024, 12, 31))
            v = f"{d:%y%m%d}{rng.choice('34')}{num(6, False)}"
            note = "RRN born from 2020-10: random serial, no check digit"
        else:
            v = rrn_value()
            note = "RRN YYMMDD + century/sex digit + mod-11 check digit"
        sep, how = seps[i % len(seps)]
        value = v[:6] + sep + v[6:]
        lang = "en" if i % 3 == 2 else "ko"
        text, span = fill((en if lang == "en" else ko)[i % 2], value)
        out.append(rec(lang, "positive", "RRN", f"{note}, {how}", text, [("RRN", *span)]))
    for i in range(n_frn):
        v = rrn_value(foreigner=True)
        value = v[:6] + ("-" if i % 3 else "") + v[6:]
        lang = "en" if i % 2 else "ko"
        tpl = "Alien registration no. {X} on file." if lang == "en" else "외국인등록번호 {X}"
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "FRN", "FRN: digit 5-8, mod-11 check digit + 2", text, [("FRN", *span)]))
    return out


# --- email, passport, licence, BRN, IP, names ----------------------------------------------------------

EMAIL_LOCALS = ["minsu.kim", "jiyoung_lee", "park.sy+bank", "hong-gd", "jane.doe+newsletter", "s.choi84",
                "Yuna.Kang", "dh.jung2", "tom+kr", "eunji.seo"]
EMAIL_DOMAINS = ["naver.com", "mail.corp.example.co.kr", "hanmail.net", "example.com", "dept.univ.ac.kr",
                 "gmail.com", "kakao.com", "eng.example.org", "company.co.kr"]


def emails(n: int) -> list[dict]:
    out = []
    tpls = [("ko", "이메일 {X} 으로 보내 주세요."), ("en", "Contact: {X}"), ("ko", "회신 주소 <{X}>"),
            ("en", "mailto:{X}"), ("ko", "고객 메일({X})로 안내문 발송"), ("en", "Email {X} for the form.")]
    for i in range(n):
        local, dom = EMAIL_LOCALS[i % len(EMAIL_LOCALS)], rng.choice(EMAIL_DOMAINS)
        value = f"{local}@{dom}"
        lang, tpl = tpls[i % len(tpls)]
        note = "RFC 5322 dot-atom" + (", +tag" if "+" in local else "") + (", subdomain" if dom.count(".") > 1 else "")
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "EMAIL", note, text, [("EMAIL", *span)]))
    return out


def passports(n: int) -> list[dict]:
    out = []
    tpls = [("ko", "여권번호 {X}"), ("en", "Passport No. {X}"), ("ko", "여권 번호: {X} (만료 2031)"),
            ("en", "passport number {X} was scanned.")]
    for i in range(n):
        if i % 2:
            value, note = (
                f"M{num(3, False)}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{num(4, False)}",
                "2021 format M###A####",
            )
        else:
            value, note = rng.choice("MSRGD") + num(8, False), "e-passport type letter M/S/R/G/D + 8 digits"
        lang, tpl = tpls[i % len(tpls)]
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "PASSPORT", note, text, [("PASSPORT", *span)]))
    return out


DL_REGIONS = {
    "서울": 11, "부산": 12, "경기": 13, "강원": 14, "충북": 15, "충남": 16, "전북": 17, "전남": 18,
    "경북": 19, "경남": 20, "제주": 21, "대구": 22, "인천": 23, "광주": 24, "대전": 25, "울산": 26,
}


def licences(n: int) -> list[dict]:
    out = []
    tpls = [("ko", "운전면허번호 {X}"), ("en", "Driver's license {X} verified."), ("ko", "면허번호: {X}"),
            ("en", "driver licence no. {X}")]
    for i in range(n):
        region, code = rng.choice(list(DL_REGIONS.items()))
        yy, serial, chk = f"{rng.randint(0, 99):02d}", num(6, False), num(2, False)
        form = i % 4
        lang, tpl = tpls[i % len(tpls)]
        if form == 0:
            value, note = f"{code}-{yy}-{serial}-{chk}", "region code 11-26/28 - year - serial - check"
        elif form == 1:
            value, note = f"{code} {yy} {serial} {chk}", "region code groups separated by spaces"
        elif form == 2:
            value, note = f"{region} {yy}-{serial}-{chk}", "pre-2011 licence: region name instead of the code"
        else:
            value, note = f"{code}-{yy}-{serial}-{chk}", "region code form after the region name"
            tpl = tpl.replace("{X}", f"{region} {{X}}")
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "DRIVER_LICENSE", note, text, [("DRIVER_LICENSE", *span)]))
    return out


def brn_value(valid: bool = True) -> str:
    d9 = num(3) + f"{rng.randint(1, 99):02d}" + num(4, False)
    c = brn_check(d9)
    return d9 + str(c if valid else (c + rng.randint(1, 9)) % 10)


def brns(n: int) -> list[dict]:
    out = []
    tpls = [("ko", "사업자등록번호 {X}"), ("en", "Business registration no. {X}"), ("ko", "거래처 사업자번호: {X}"),
            ("ko", "세금계산서 공급자 등록번호 {X}")]
    for i in range(n):
        v = brn_value()
        value = v if i % 3 == 2 else f"{v[:3]}-{v[3:5]}-{v[5:]}"
        lang, tpl = tpls[i % len(tpls)]
        text, span = fill(tpl, value)
        out.append(
            rec(lang, "positive", "BRN", "사업자등록번호 3-2-5, weights 1,3,7,1,3,7,1,3,5", text, [("BRN", *span)])
        )
    return out


def ipv6() -> tuple[str, str]:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    form = rng.choice(["full", "compressed", "linklocal", "doc"])
    if form == "full":
        return ":".join(g.zfill(4) for g in groups), "IPv6 full form (RFC 4291)"
    if form == "compressed":
        return f"2001:{groups[1]}:{groups[2]}::{groups[7]}", "IPv6 compressed (RFC 5952)"
    if form == "linklocal":
        # EUI-64: the MAC's first 3 bytes, ff:fe, its last 3 bytes (written without leading zeros, RFC 5952)
        mac_hi, mac_lo = groups[5].zfill(4)[:2], groups[6].zfill(4)[:2]
        eui = f"{groups[4]}:{int(mac_hi + 'ff', 16):x}:{int('fe' + mac_lo, 16):x}:{groups[7]}"
        return f"fe80::{eui}", "IPv6 link-local, EUI-64 interface id"
    return f"2001:db8:{groups[2]}:{groups[3]}::{groups[7]}", "IPv6 documentation prefix 2001:db8::/32"


def ips(n: int) -> list[dict]:
    out = []
    tpls = [("ko", "접속 IP {X} 에서 로그인 시도"), ("en", "Login from {X} was blocked."), ("en", "client_ip={X}"),
            ("ko", "고객 단말 주소 {X} 차단 요청")]
    for i in range(n):
        if i % 2:
            value, note = ipv6()
        else:
            first = rng.choice([1, 10, 14, 58, 61, 110, 121, 172, 175, 192, 211, 220])
            value = ".".join(str(x) for x in (first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)))
            note = "IPv4 dotted quad, octets 0-255"
        lang, tpl = tpls[i % len(tpls)]
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "IP", note, text, [("IP", *span)]))
    return out


# Most common surnames (통계청 2015 인구주택총조사) and common given-name syllables.
SURNAMES = (
    "김이박최정강조윤장임한오서신권황안송전홍유고문양손배백허남심노하곽성차주우구민류나진지엄채원천방공현함"
    "변염여추도소석선설마길연위표명기반왕"
)
GIVEN = "민서지현준우영수진호은경성희정연하윤아도혜재동소승미유나상태원석철훈주예채건시율빈다인규환솔보람"
EN_FIRST = ["Emma", "Liam", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Chloe", "Seojun", "Haeun"]
EN_LAST = ["Anderson", "Clark", "Lewis", "Walker", "Young", "Kim", "Park", "Jung", "Moore", "Hall"]


def names(n: int) -> list[dict]:
    out = []
    tpls = [("ko", "{X} 고객님, 주문하신 상품이 발송되었습니다."), ("ko", "성명: {X}"), ("ko", "예금주 {X}"),
            ("ko", "{X}님께 회신 완료"), ("ko", "수령인: {X}"), ("en", "Dear Ms. {X},"), ("en", "Name: {X}"),
            ("ko", "{X} 씨가 방문 상담을 요청했습니다."), ("en", "Dr. {X} signed the form.")]
    for i in range(n):
        lang, tpl = tpls[i % len(tpls)]
        if lang == "ko":
            value = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([2, 2, 1])))
            note = "surname + given name next to an honorific or after a label"
        else:
            value, note = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}", "given + family name after a title or Name:"
        text, span = fill(tpl, value)
        out.append(rec(lang, "positive", "NAME", note, text, [("NAME", *span)]))
    return out


# --- hard negatives -----------------------------------------------------------------------------------


def negatives() -> list[dict]:
    out: list[dict] = []

    def add(lang: str, category: str, spec: str, text: str) -> None:
        lang = "ko" if any("가" <= ch <= "힣" for ch in text) else "en"  # some makers pick either language
        out.append(rec(lang, "negative", category, spec, text, []))

    for _ in range(14):  # parcel tracking numbers: 10-13 digits, often next to refund/payment words
        n = rng.choice([10, 11, 12, 12, 12, 13])
        t = num(n)
        add("ko", "tracking_number", f"parcel tracking number ({n} digits) after 송장/운송장/택배",
            rng.choice([f"반품 접수되었습니다. 송장번호 {t} 확인 후 환불됩니다.",
                        f"택배 운송장 {t} 으로 발송했습니다, 입금 확인 감사합니다.",
                        f"CJ대한통운 송장 {t[:4]}-{t[4:8]}-{t[8:]} 조회",
                        f"환불 요청하신 주문의 송장번호는 {t}입니다.",
                        f"우체국택배 {t} 로 반송 부탁드립니다.",
                        f"운송장번호: {t} (환불 처리 중)"]))
    for _ in range(6):
        t = num(12)
        add("en", "tracking_number", "parcel tracking number (12 digits) after tracking",
            rng.choice([f"Refund issued once tracking number {t} shows delivered.",
                        f"Return shipped, tracking no. {t}; the deposit will follow.",
                        f"Tracking # {t[:4]} {t[4:8]} {t[8:]}"]))
    for _ in range(12):
        d = date(2023, 1, 1) + timedelta(days=rng.randint(0, 700))
        o = f"{d:%Y%m%d}{num(rng.choice([4, 5, 6]), False)}"
        add("ko", "order_number", "order number (date + sequence) after 주문",
            rng.choice([f"주문번호 {o} 취소, 환불 계좌 확인 필요", f"주문 {o} 건 입금 확인 완료",
                        f"환불 대상 주문번호: {o}", f"이체 완료된 주문번호는 {o} 입니다."]))
    for _ in range(6):
        o = num(rng.choice([10, 12, 13]))
        add("en", "order_number", "order number after order", rng.choice(
            [f"Refund for order #{o} was sent to your bank.", f"Order no. {o}: payment deposited.",
             f"Your account shows order {o} as refunded."]))
    for _ in range(8):
        m = rng.choice(["회원번호", "고객번호", "계약번호", "증권번호", "접수번호", "승인번호"])
        add("ko", "member_number", f"{m}: an internal id, not an account",
            f"환불 관련 {m} {num(rng.choice([10, 11, 12]))} 확인")
    for _ in range(10):
        d = date(2020, 1, 1) + timedelta(days=rng.randint(0, 1500))
        add("ko", "date", "date or timestamp next to 이체/입금", rng.choice([
            f"이체일시 {d:%Y%m%d}{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}",
            f"입금일 {d:%Y-%m-%d} 14:30",
            f"계좌 개설일 {d:%Y.%m.%d}",
            f"송금 일시: {d:%Y%m%d}{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}"]))
    for _ in range(4):
        d = date(2020, 1, 1) + timedelta(days=rng.randint(0, 1500))
        add("en", "date", "date next to transfer",
            rng.choice([f"Transfer date {d:%Y-%m-%d}.", f"Deposited on {d:%m/%d/%Y}."]))
    for _ in range(10):
        a = rng.randint(10_000_000_000, 99_000_000_000)
        add("ko", "amount", "amount in won next to 입금/이체", rng.choice([
            f"입금액 {a:,}원", f"이체 금액 {a}원 확인", f"송금액: {a:,} 원", f"환불 금액 ₩{a:,}"]))
    for _ in range(4):
        a = rng.randint(1_000_000_000, 9_000_000_000)
        add("en", "amount", "amount next to transfer", f"Wire transfer of KRW {a} approved." if rng.random() < 0.5
            else f"The account balance is {a:,} won.")
    for _ in range(8):
        body = "97" + rng.choice("89") + "89" + num(8, False)
        s = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body))
        isbn = body + str((10 - s % 10) % 10)
        add("ko", "isbn", "ISBN-13 (978/979-89 Korean publisher prefix), EAN check digit",
            rng.choice([f"계좌 관리 실무 (ISBN {isbn[:3]}-{isbn[3:5]}-{isbn[5:9]}-{isbn[9:12]}-{isbn[12]})",
                        f"도서 ISBN {isbn} 입고",
                        f"ISBN: {isbn[:3]}-{isbn[3:5]}-{isbn[5:10]}-{isbn[10:12]}-{isbn[12]}"]))
    for _ in range(8):
        add("en", "version", "software version or OID, not an address", rng.choice([
            f"Banking app v{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)} released",
            f"OID 1.3.6.1.4.1.{rng.randint(100, 60000)}.{rng.randint(1, 9)}",
            f"Chrome {rng.randint(100, 130)}.0.{rng.randint(5000, 6999)}.{rng.randint(10, 200)}",
            f"버전 {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)} 배포"]))
    for _ in range(8):
        add("ko", "model_code", "product model or part code", rng.choice([
            f"모델명 SM-S{num(3)}N 재고 있음", f"품번 {num(3)}-{num(2)}-{num(5)}-{num(2)}",
            f"제품코드 M{num(8, False)}",
            f"모델 KB-{num(4)}-{num(6)}", f"부품번호 {num(4)}-{num(4)}-{num(4)}"]))
    for _ in range(12):  # 대표번호, toll-free and information numbers: businesses, not persons
        add(rng.choice(["ko", "en"]), "business_number",
            "15xx/16xx/18xx 대표번호, 080 toll-free, 060: business numbers",
            rng.choice([f"고객센터 {rng.choice(['1588', '1577', '1544', '1566', '1600', '1644', '1661', '1899'])}"
                        f"-{num(4, False)}",
                        f"연락처: {rng.choice(['1588', '1670', '1800'])}-{num(4, False)} (평일 9-18시)",
                        f"수신거부 080-{rng.randint(200, 999)}-{num(4, False)}",
                        f"Call our hotline {rng.choice(['1588', '1544'])} {num(4, False)}.",
                        f"정보이용료 060-{rng.randint(200, 999)}-{num(4, False)}"]))
    for _ in range(8):
        add("ko", "invalid_phone", "exchange starting with 0, or wrong length", rng.choice([
            f"연락처 010-0{num(3, False)}-{num(4, False)} (없는 번호)", f"전화 02-0{num(2, False)}-{num(4, False)}",
            f"휴대폰 010-{rng.randint(2000, 9999)}-{num(5, False)}",
            f"전화 011-{rng.randint(200, 999)}-{num(3, False)}"]))
    for _ in range(6):
        add("ko", "phone_like_serial", "serial or device id after its label", rng.choice([
            f"시리얼 번호 010{rng.randint(2000, 9999)}{num(4, False)}",
            f"S/N: 02-{rng.randint(200, 999)}-{num(4, False)}",
            f"일련번호 031{rng.randint(200, 999)}{num(4, False)} 교체"]))
    for _ in range(10):
        prefix, length, groups, note = CARD_NETWORKS[rng.randrange(len(CARD_NETWORKS))]
        add(rng.choice(["ko", "en"]), "invalid_card", f"{note} with a wrong Luhn digit",
            rng.choice(["카드번호 {} 는 유효하지 않습니다.", "Card {} was declined (invalid number)."]).format(
                grouped(card_number(prefix, length, valid=False), groups, rng.choice(["-", " "]))))
    for _ in range(4):
        d = card_number(rng.choice(["1", "7", "8"]), 16)
        add("en", "invalid_card", "ISO/IEC 7812 leading digit 1/7/8: not a payment card",
            f"Loyalty card {grouped(d, (4, 4, 4, 4), '-')} linked.")
    for _ in range(4):
        body = rng.choice(["35", "86", "01"]) + num(12, False)
        add("en", "imei", "IMEI: 15 digits with a Luhn check digit, not a card",
            f"IMEI {body}{luhn_digit(body)} registered")
    for _ in range(10):
        kind = rng.choice(["checksum", "month", "future", "corp"])
        if kind == "checksum":
            v, why = rrn_value(valid=False), "RRN born before 2020-10 with a wrong check digit"
            t = f"주민번호 {v[:6]}-{v[6:]} (오류)"
        elif kind == "month":
            v, why = f"{rng.randint(50, 99)}{rng.randint(13, 19)}{rng.randint(10, 28)}-1{num(6, False)}", "month 13-19"
            t = f"주민등록번호 {v} 형식 오류"
        elif kind == "future":
            v, why = f"{(date.today() + timedelta(days=400)):%y%m%d}-3{num(6, False)}", "birth date in the future"
            t = f"등록번호 {v} 확인 불가"
        else:
            v, why = f"1{rng.randint(10, 80)}1{rng.randint(1, 2)}1-{num(7, False)}", "법인등록번호 (company number)"
            t = f"법인등록번호 {v}"
        add("ko", "invalid_rrn", why, t)
    for _ in range(4):
        v = rrn_value(foreigner=True, valid=False)
        add("ko", "invalid_rrn", "FRN with a wrong check digit", f"외국인등록번호 {v[:6]}-{v[6:]} 불일치")
    for _ in range(6):
        v = brn_value(valid=False)
        add("ko", "invalid_brn", "사업자등록번호 with a wrong check digit",
            f"사업자등록번호 {v[:3]}-{v[3:5]}-{v[5:]} 조회 실패")
    for _ in range(6):
        code = rng.choice([10, 27, 29, 30, 31, 45, 99])
        add("ko", "invalid_licence", "licence region code outside 11-26/28",
            f"운전면허 {code}-{rng.randint(0, 99):02d}-{num(6, False)}-{num(2, False)} 조회 불가")
    for _ in range(8):
        add(rng.choice(["ko", "en"]), "passport_like", "passport shape without passport context, or wrong length",
            rng.choice([
                f"Invoice M{num(8, False)} paid.", f"모델 S{num(8, False)} 입고",
                f"여권번호 M{num(7, False)} (자릿수 오류)", f"Batch G{num(3, False)}A{num(4, False)} approved.",
                f"여권 만료일 {rng.randint(2026, 2035)}-0{rng.randint(1, 9)}-15"]))
    for _ in range(10):
        add("en", "email_like", "not a personal mailbox (role, service account, asset name, handle)", rng.choice([
            "icon@2x.png", f"logo@{rng.choice(['2x', '3x'])}.webp", "Installed pkg@1.2.3 from the mirror.",
            "Mention @kim_minsu in the thread.", "git@github.com:inhouse/inhouse.git", "ssh admin@localhost",
            "Write to privacy@example.co.kr for data requests.", "support+kr@company.com answers within a day",
            "noreply@bank.co.kr sent the statement", "user@host placeholder"]))
    for _ in range(12):
        add("en", "ip_like", "not a host address (version, netmask, loopback, MAC, time, slice)", rng.choice([
            f"{rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)} is invalid",
            "subnet mask 255.255.255.0", "netmask 255.255.240.0", "bind to 127.0.0.1 only", "listen on 0.0.0.0:8080",
            "localhost is ::1", f"MAC 00:1A:2B:{rng.randint(10, 99)}:4D:5E", f"meeting at {rng.randint(10, 18)}:30:00",
            "std::vector<int> v;", "evens = xs[0::2]",
            f"version {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"]))
    for _ in range(14):
        add("ko", "role_word", "a role, title or common noun next to an honorific, not a name", rng.choice([
            "고객님, 안녕하세요.", "담당자님께 전달했습니다.", "이사님 결재 대기", "예금주: 본인", "성명: 미기재",
            "날씨가 좋네요", "솜씨 좋은 장인", "팀장님 회의 참석", "수령인: 경비실", "고객명: 해당없음",
            "사장님께 보고", "Dear Customer,", "Name: N/A", "선생님께서 말씀하신 내용"]))
    return out


# --- records ------------------------------------------------------------------------------------------


def fill(template: str, value: str) -> tuple[str, tuple[int, int]]:
    start = template.index("{X}")
    return template.replace("{X}", value), (start, start + len(value))


def rec(lang: str, kind: str, category: str, spec: str, text: str, spans: list[tuple[str, int, int]]) -> dict:
    return {
        "lang": lang, "kind": kind, "category": category, "spec": spec, "text": text,
        "spans": [list(s) for s in spans],
    }


def main() -> None:
    records = (accounts(96) + phones(60) + cards(20) + rrns(15, 10) + emails(15) + passports(12) + licences(12)
               + brns(10) + ips(16) + names(18) + negatives())
    with OUT.open("w", encoding="utf-8") as f:
        for i, r in enumerate(records):
            f.write(json.dumps({"id": i, **r}, ensure_ascii=False) + "\n")
    pos = sum(len(r["spans"]) for r in records)
    neg = sum(r["kind"] == "negative" for r in records)
    print(f"wrote {len(records)} records ({pos} PII spans, {neg} hard negatives) to {OUT}")


if __name__ == "__main__":
    main()
