"""PII detection and masking for Korean and English text.

Bare regexes flag every 13-digit order number as a resident registration number and every 11-digit
serial as a phone. So each detector is a candidate pattern plus validation:

- RRN / FRN (resident / foreigner registration numbers): a real birth date, and the mod-11 checksum
  (numbers issued from October 2020 have a random serial, so a checksum miss is accepted only for them).
- PHONE: Korean mobile (010, 011, 016-019), Seoul (02), regional (031-064), 070 and 050x personal
  (안심) numbers, with or without separators, "(02) 345-6789", +82 international form; area-code and
  leading-digit rules. 대표번호 (1588-...), 080 and 060 numbers belong to businesses and are not matched.
- ACCOUNT: 10-14 digits in bank groupings (hyphens, spaces or none) whose nearest cue before them in the
  same sentence is an account word (계좌, 입금, 환불, bank names, account...), or with a bank named right
  after; a nearer 송장/주문/금액/일시... cue, an amount in won or a timestamp is not an account.
- CARD: 13-19 digits in card groupings, a card-network prefix and the Luhn check.
- EMAIL (role mailboxes, service accounts and icon@2x.png assets excluded), IP (IPv4 octets <= 255, not
  a version number, loopback or netmask; IPv6 full and compressed forms), PASSPORT (near 여권/passport),
  DRIVER_LICENSE (region code 11-26/28 + year + serial), BRN (business registration number, checksum),
- NAME: Korean names (a known surname + 1-2 syllables) next to an honorific (님, 씨, 고객님...) or after a
  label (고객명, 성명, 예금주...), and English names after Mr./Ms./Dr. or a Name: label. A heuristic.

Number-like candidates are dropped when a label such as 주문번호, order no., S/N or 모델 sits just before
them: the surrounding words are what tell an order number from a phone number.

`mask(text)` replaces every match with its type in brackets ("[RRN]", "[PHONE]"...). Other modules
import it by exactly that name; logs and audit records always go through it.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

TYPES: tuple[str, ...] = (
    "RRN",
    "FRN",
    "PHONE",
    "ACCOUNT",
    "CARD",
    "EMAIL",
    "PASSPORT",
    "DRIVER_LICENSE",
    "BRN",
    "IP",
    "NAME",
)


@dataclass(frozen=True)
class PIIMatch:
    """One piece of personal data found in a text: its type and where it is ([start, end) offsets)."""

    type: str
    start: int
    end: int
    text: str


# --- shared context helpers -------------------------------------------------------------------------

# A number must not be glued to letters/digits (product codes like AB-010-1234-5678, longer digit runs).
_L = r"(?<![0-9A-Za-z_])(?<![0-9A-Za-z][-./])"
_R = r"(?![0-9A-Za-z_]|[-./][0-9A-Za-z])"

# Labels that say "this number is NOT personal data" when they sit right before it.
_NEG_LABEL = re.compile(
    r"(?<![A-Za-z])(주문\s*번호|주문|송장|운송장|택배|배송\s*번호|일련\s*번호|시리얼|제품\s*코드|상품\s*코드|품번|모델|"
    r"접수\s*번호|관리\s*번호|사번|문서\s*번호|예약\s*번호|승인\s*번호|거래\s*번호|결제\s*번호|티켓|"
    r"order|invoice|serial|s/n|sn|sku|model|part\s*no|tracking|ticket|ref(?:erence)?|lot|batch|build|"
    r"version|ver\.?|버전|isbn|barcode|바코드)"
    r"\s*(?:no\.?|number|#|번호)?\s*(?:은|는)?\s*[:：#=]?\s*$",
    re.IGNORECASE,
)


def _before(text: str, start: int, width: int) -> str:
    return text[max(0, start - width) : start]


def _negative_label(text: str, start: int) -> bool:
    return bool(_NEG_LABEL.search(_before(text, start, 24)))


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


# --- RRN / FRN --------------------------------------------------------------------------------------

_RRN = re.compile(_L + r"(\d{2})(\d{2})(\d{2})\s?(?P<h>[-–－]?)\s?([0-9])(\d{6})" + _R)
# A company's 법인등록번호 has the same 6-7 shape (and sometimes a date-like front).
_CORP_LABEL = re.compile(r"법인\s*(?:등록)?\s*번호\s*[:：]?\s*$|"
                         r"corporate\s+registration\s+(?:no\.?|number)\s*[:：]?\s*$", re.IGNORECASE)
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# From this date new numbers carry a random serial, so the checksum no longer applies.
_RANDOM_SERIAL_FROM = date(2020, 10, 1)


def _rrn_birth(yy: int, mm: int, dd: int, g: int) -> date | None:
    century = {1: 1900, 2: 1900, 5: 1900, 6: 1900, 3: 2000, 4: 2000, 7: 2000, 8: 2000, 9: 1800, 0: 1800}[g]
    try:
        return date(century + yy, mm, dd)
    except ValueError:
        return None


def rrn_checksum_ok(digits: str) -> bool:
    """Mod-11 check digit of a 13-digit resident (G 1-4, 9, 0) or foreigner (G 5-8) number."""
    s = sum(int(d) * w for d, w in zip(digits[:12], _RRN_WEIGHTS, strict=True))
    g = int(digits[6])
    check = (13 - s % 11) % 10 if g in (5, 6, 7, 8) else (11 - s % 11) % 10
    return check == int(digits[12])


def _find_rrn(text: str) -> Iterable[PIIMatch]:
    today = date.today()
    for m in _RRN.finditer(text):
        yy, mm, dd, g = int(m[1]), int(m[2]), int(m[3]), int(m[5])
        birth = _rrn_birth(yy, mm, dd, g)
        if birth is None or birth > today:
            continue
        digits = _digits(m[0])
        if len(digits) != 13:
            continue
        if not rrn_checksum_ok(digits) and birth < _RANDOM_SERIAL_FROM:
            continue
        if _negative_label(text, m.start()) or _CORP_LABEL.search(_before(text, m.start(), 24)):
            continue
        if not m["h"] and _account_cue(text, m.start()) == "pos":
            continue  # 13 bare digits after 계좌/bank: an account (새마을금고, 신협) that happens to fit
        yield PIIMatch("FRN" if g in (5, 6, 7, 8) else "RRN", m.start(), m.end(), m[0])


# --- phones -----------------------------------------------------------------------------------------

_PHONE = re.compile(
    _L
    + r"(?P<open>\()?(?:(?P<intl>\+82[-. ]?(?:\(0\)|0)?)|(?P<zero>0))"
    # mobile 010 (011, 016-019 legacy), Seoul 02, regional 031-064, 070 internet phones, 050x personal numbers
    + r"(?P<area>1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8])"
    + r"(?P<s1>\)?(?: ?- ?|[. ])?|\) ?)(?P<mid>\d{3,4})(?P<s2>(?: ?- ?|[. ])?)(?P<last>\d{4})"
    + _R
)


def _find_phone(text: str) -> Iterable[PIIMatch]:
    for m in _PHONE.finditer(text):
        area, mid = m["area"], m["mid"]
        s1 = m["s1"].replace(")", "")
        if ")" not in m["s1"] and s1 != m["s2"] and m["s2"] != "" and s1 != "":
            continue  # mixed separators (010-1234.5678) are not how people write phone numbers
        if mid[0] == "0" or (mid[0] == "1" and not area.startswith(("1", "50"))):
            continue  # exchanges never start with 0; landline exchanges never with 1
        if area in ("10", "70") and len(mid) != 4:
            continue  # every 010 and 070 number has an 8-digit subscriber part
        if _negative_label(text, m.start()):
            continue
        # "(02) 345-6789": the parenthesis is part of the number; in "연락처(010-1234-5678)" it is not.
        start = m.start() if m["open"] and ")" in m["s1"] else m.start("intl") if m["intl"] else m.start("zero")
        yield PIIMatch("PHONE", start, m.end(), text[start : m.end()])


# --- cards ------------------------------------------------------------------------------------------

_CARD = re.compile(
    _L
    + r"(?:\d{4}(?P<s>[- ]?)\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{1,3})?"  # 16 (or 17-19) digits
    + r"|3[47]\d{2}(?P<a>[- ]?)\d{6}(?P=a)\d{5}"  # American Express 4-6-5
    + r"|3[068]\d{2}(?P<d>[- ]?)\d{6}(?P=d)\d{4})"  # Diners 4-6-4
    + _R
)


def luhn_ok(digits: str) -> bool:
    """The Luhn mod-10 check every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _find_card(text: str) -> Iterable[PIIMatch]:
    for m in _CARD.finditer(text):
        digits = _digits(m[0])
        # Card networks: 2221-2720 and 51-55 Mastercard, 3 Amex/Diners/JCB, 4 Visa, 6 Discover/UnionPay,
        # 9 Korean domestic (BC) cards.
        if digits[0] not in "345692":
            continue
        if digits[0] == "2" and not 2221 <= int(digits[:4]) <= 2720:
            continue
        if not luhn_ok(digits):
            continue
        if _negative_label(text, m.start()):
            continue
        yield PIIMatch("CARD", m.start(), m.end(), m[0])


# --- bank accounts ----------------------------------------------------------------------------------

# Groupings Korean banks print on passbooks and in their apps (commonly published; banks change formats
# after mergers and system migrations, and old groupings stay valid for old accounts, so the detector
# accepts any 10-14 digit grouping and relies on context rather than on this list):
#   KB국민 6-2-6 (older 3-2-4-3), 신한 3-3-6 (older 3-2-6), 우리 4-3-6, 하나 3-6-5, NH농협 3-4-4-2,
#   농협 단위(지역)농협 3-2-6-1, IBK기업 3-6-2-3, 카카오뱅크 4-2-7 (3333-), 토스뱅크 4-4-4 (1000-),
#   케이뱅크 3-3-6 (100-), 우체국 6-2-6, SC제일 3-2-6, 새마을금고 13 digits (9xxx-), 신협 13 digits.
# Written with hyphens, with spaces, or as one run of digits.
_ACCOUNT = re.compile(
    _L + r"(?:\d{3,6}(?P<s>[- ])\d{1,7}(?:(?P=s)\d{1,7}){0,3}|\d{10,14})" + _R
)
# Words that say "bank account" (pos) and words that say the number is something else (neg): the cue
# nearest before a number decides, so 환불 ... 송장번호 123456789012 is a tracking number.
_ACCOUNT_CUES = re.compile(
    r"(?P<pos>계좌|입금|송금|이체|환불|예금주|출금|통장|은행|뱅크|농협|신협|수협|새마을금고|우체국|국민|신한|우리|하나|기업|"
    r"카카오|토스|씨티|(?<![A-Za-z])(?:KB|NH|IBK|SC|KDB|account|acct|a/c|bank|deposit|wire|transfer|refund|"
    r"beneficiary|payee|remit)(?![A-Za-z]))"
    r"|(?P<neg>주문|송장|운송장|택배|배송|등기|반송|(?:회원|고객|계약|증권|접수|승인|거래|결제|예약|관리|일련|사건|문서|"
    r"주민|사업자|등록)\s*번호|사번|품번|모델|시리얼|제품|상품|바코드|금액|잔액|잔고|일시|일자|날짜|시각|카드|전화|"
    r"휴대폰|핸드폰|연락처|팩스|(?<![A-Za-z])(?:order|tracking|invoice|ticket|ref|member|customer\s*id|case|serial|s/n|"
    r"sku|model|isbn|amount|balance|krw|usd|won|date|time|card|phone|tel|fax|mobile)(?![A-Za-z]))",
    re.IGNORECASE,
)
# After a number only unambiguous words count ("110-123-456789 (신한은행)", "... 계좌로"): not 우리/하나.
_ACCOUNT_AFTER = re.compile(
    r"^[\s(),]{0,3}(?:[가-힣A-Za-z]{0,4}(?:은행|뱅크|농협|신협|수협|새마을금고|우체국)|신한|국민|계좌|예금주|"
    r"(?i:[A-Za-z ]{0,12}bank))"
)
# A sentence or line break ends the context: the cue must be in the same sentence as the number.
_CLAUSE_BREAK = re.compile(r"\n|[!?。]\s|(?<![Nn]o)(?<![Aa]cct)(?<![Tt]el)(?<![Aa]/[Cc])(?<![0-9])\.\s")
_AMOUNT = re.compile(r"^\s?(?:원|만|억|won|krw|usd|달러)", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"(?:[₩$]|krw|usd)\s?$", re.IGNORECASE)


def _clause_before(text: str, start: int, width: int = 32) -> str:
    window = _before(text, start, width)
    breaks = list(_CLAUSE_BREAK.finditer(window))
    return window[breaks[-1].end() :] if breaks else window


def _account_cue(text: str, start: int) -> str | None:
    """"pos" when the cue nearest before `start` (same sentence) says bank account, "neg" when it names
    another kind of number, None without any cue."""
    last = None
    for m in _ACCOUNT_CUES.finditer(_clause_before(text, start)):
        last = m
    return None if last is None else ("pos" if last["pos"] else "neg")


def _timestamp(digits: str) -> bool:
    """A bare yyyymmddHHMM[SS] run (a transfer's timestamp, not its account)."""
    if len(digits) not in (12, 14) or not 1990 <= int(digits[:4]) <= 2099:
        return False
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    hh, mi, ss = int(digits[8:10]), int(digits[10:12]), int(digits[12:14] or 0)
    return hh < 24 and mi < 60 and ss < 60


def _find_account(text: str) -> Iterable[PIIMatch]:
    for m in _ACCOUNT.finditer(text):
        digits = _digits(m[0])
        if not 10 <= len(digits) <= 14:
            continue
        if _negative_label(text, m.start()):
            continue
        if _AMOUNT.match(text, m.end()) or _CURRENCY_BEFORE.search(_before(text, m.start(), 6)):
            continue  # 이체 금액 1500000000원, KRW 8366812871
        if not m["s"] and _timestamp(digits):
            continue
        cue = _account_cue(text, m.start())
        if cue == "neg":
            continue
        if cue is None and not _ACCOUNT_AFTER.match(text[m.end() : m.end() + 16]):
            continue
        yield PIIMatch("ACCOUNT", m.start(), m.end(), m[0])


# --- business registration number -------------------------------------------------------------------

_BRN = re.compile(_L + r"(\d{3})(-?)(\d{2})\2(\d{5})" + _R)
_BRN_CONTEXT = re.compile(
    r"(사업자|등록\s*번호|세금\s*계산서|법인|\(주\)|주식회사|business\s+registration|\bBRN\b|tax\s*(?:id|invoice)|vendor)",
    re.IGNORECASE,
)
_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)


def brn_checksum_ok(digits: str) -> bool:
    """Check digit of a 10-digit 사업자등록번호 (weights 1,3,7,1,3,7,1,3,5 plus the 9th digit's carry)."""
    s = sum(int(d) * w for d, w in zip(digits[:9], _BRN_WEIGHTS, strict=True))
    s += int(digits[8]) * 5 // 10
    return (10 - s % 10) % 10 == int(digits[9])


def _find_brn(text: str) -> Iterable[PIIMatch]:
    for m in _BRN.finditer(text):
        digits = _digits(m[0])
        if digits[3:5] == "00" or not brn_checksum_ok(digits):
            continue
        if _negative_label(text, m.start()):
            continue
        near = _before(text, m.start(), 40) + " " + text[m.end() : m.end() + 12]
        if not m[2] and not _BRN_CONTEXT.search(near):
            continue  # ten bare digits are a BRN only when the text says so
        yield PIIMatch("BRN", m.start(), m.end(), m[0])


# --- driver licence ---------------------------------------------------------------------------------

_REGIONS = "서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산"
_DL = re.compile(
    _L
    # 도로교통공단 region codes: 11 서울 .. 26 울산, 28 경기북부 (27 unused); region names before 2011
    + r"(?:(?P<code>1[1-9]|2[0-68])(?P<s>[- ]?)(?P<yy>\d{2})(?P=s)\d{6}(?P=s)\d{2}"
    + rf"|(?P<region>{_REGIONS})\s?\d{{2}}-?\d{{6}}-?\d{{2}})"
    + _R
)
_DL_CONTEXT = re.compile(r"(운전\s*면허|면허\s*번호|driver'?s?\s*licen[cs]e|\bDL\b|licen[cs]e\s*no)", re.IGNORECASE)


def _find_driver_license(text: str) -> Iterable[PIIMatch]:
    for m in _DL.finditer(text):
        if _negative_label(text, m.start()):
            continue
        if m["code"] and not m["s"] and not _DL_CONTEXT.search(_before(text, m.start(), 30)):
            continue  # twelve bare digits need the word 면허 nearby
        yield PIIMatch("DRIVER_LICENSE", m.start(), m.end(), m[0])


# --- passport ---------------------------------------------------------------------------------------

_PASSPORT = re.compile(_L + r"(?:[MSRGDO]\d{8}|[MSRGDO]\d{3}[A-Z]\d{4})" + _R)
_PASSPORT_CONTEXT = re.compile(r"(여권|passport|旅券)", re.IGNORECASE)


def _find_passport(text: str) -> Iterable[PIIMatch]:
    for m in _PASSPORT.finditer(text):
        # Product codes look the same (M12345678); only the word 여권/passport nearby makes it one.
        if not _PASSPORT_CONTEXT.search(_before(text, m.start(), 30)):
            continue
        yield PIIMatch("PASSPORT", m.start(), m.end(), m[0])


# --- email ------------------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)


# Role mailboxes of an organisation identify no person (help@, privacy@...): published contact data.
_ROLE_MAILBOXES = set(
    "help support info privacy contact admin sales hr people it-help helpdesk noreply no-reply webmaster service "
    "cs security abuse postmaster billing press media careers jobs recruit office hello team".split()
    # service accounts: SSH remotes (git@github.com:org/repo.git), system mail
    + "git root mailer-daemon daemon nobody".split()
)
# "icon@2x.png": an image asset at a screen density, not an address.
_ASSET = re.compile(r"@[0-9]+(?:\.[0-9]+)?x\.(?:png|jpe?g|gif|webp|svg|avif)$", re.IGNORECASE)


def _find_email(text: str) -> Iterable[PIIMatch]:
    for m in _EMAIL.finditer(text):
        local = m[0].split("@", 1)[0]
        # A +tag does not make a role mailbox personal (support+kr@ is still the support desk).
        if ".." in local or local.lower().split("+", 1)[0] in _ROLE_MAILBOXES or _ASSET.search(m[0]):
            continue
        yield PIIMatch("EMAIL", m.start(), m.end(), m[0])


# --- IP addresses -----------------------------------------------------------------------------------

_IP = re.compile(r"(?<![0-9A-Za-z.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![0-9]|\.[0-9])")
_VERSIONISH = re.compile(r"(?<![A-Za-z])(v|ver\.?|version|버전|release|릴리스|§|제|section|sec\.?|조|항)\s*$",
                         re.IGNORECASE)


# IPv6 (RFC 4291 full form, RFC 5952 compressed form, an IPv4 tail for mapped addresses).
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"  # two colons early: no hex words, no times
    r"[0-9A-Fa-f:]{2,39}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?"
    r"(?![0-9A-Za-z:]|\.[0-9])"
)


def _ipv4_host(octets: list[int]) -> bool:
    """Whether four octets can name a host: not 0.0.0.0, loopback 127/8, or a netmask (255.255.240.0)."""
    value = int.from_bytes(bytes(octets), "big")
    if value == 0 or octets[0] == 127:
        return False
    inverted = ~value & 0xFFFFFFFF
    return not (octets[0] == 255 and inverted & (inverted + 1) == 0)  # ones then zeros: a mask


def _ipv6_host(candidate: str) -> bool:
    if "::" not in candidate and candidate.count(":") != 7 and not (candidate.count(":") == 6 and "." in candidate):
        return False  # MAC addresses (6 groups), times (10:30:00)
    try:
        addr = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    if addr.is_loopback or addr.is_unspecified:
        return False
    # A group of 3-4 hex digits: xs[0::2] (a slice) and 1::2 are not addresses, fe80::1 and 2001:db8::1 are.
    return any(len(g) >= 3 for g in re.split(r"[:.]", candidate))


def _find_ip(text: str) -> Iterable[PIIMatch]:
    for m in _IP.finditer(text):
        octets = [m[i] for i in range(1, 5)]
        if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
            continue
        if not _ipv4_host([int(o) for o in octets]):
            continue
        if _VERSIONISH.search(_before(text, m.start(), 12)) or _negative_label(text, m.start()):
            continue
        yield PIIMatch("IP", m.start(), m.end(), m[0])
    for m in _IPV6.finditer(text):
        if _ipv6_host(m[0]) and not _negative_label(text, m.start()):
            yield PIIMatch("IP", m.start(), m.end(), m[0])


# --- names ------------------------------------------------------------------------------------------

_SURNAMES_2 = ("남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방", "을지", "어금", "망절")
_SURNAMES_1 = set(
    "김이박최정강조윤장임한오서신권황안송전홍유고문양손배백허남심노하곽성차주우구원민류나진지엄채천방공현함변염여추도소석선설마길연위표명기반라왕금옥육인맹제모탁국어은편용예경봉사부가복태목형피두감음빈동온호범좌"
)
# Words that follow a honorific-looking pattern but are roles or common nouns (고객님, 선생님, 마음씨).
_NOT_NAMES = set(
    """고객 회원 선생 사장 부장 과장 차장 대리 주임 사원 팀장 실장 이사 상무 전무 원장 교수 대표 관리자 담당자
    여러분 손님 환자 보호자 학생 부모 어머 아버 어머니 아버지 형 누 언니 오빠 동생 하느 하나 신청자 구매자 판매자
    이용자 사용자 가입자 수령인 작성자 기사 간호사 의사 변호사 세무사 마음 아가 아저 아줌 솜 글 날 불 말 홀 맵
    주인 조상 부인 도련 서방 선배 후배 동기 친구 이웃 성함 성명 이름 정보 전화 연락 주소 계좌 번호 카드 여권 미기재
    없음 미상 익명 비공개 홍보 인사 총무 기획 영업 재무 구매 개발 마케팅 고객센터 본인 공란 해당 해당없음 미입력 테스트
    주식 유한 합자 회사 법인 부서 지점 본점 강남 강북 서울 부산 대구 인천 광주 대전 울산 제주 경기 한국 대한 민국
    정부 공공 기관 조합 연구 센터 사업 사업자 상호 소속 성별 직위 직급 주민 외국 운전 면허 문의 안내 확인 처리 접수
    신규 기존 전체 일반 기본 우수 최고 최우수 명예 유료 무료 정회 준회 임시 가족 배우 자녀 상담 상담원
    고객님 사모""".split()
)
# Honorifics may touch the name (김민수님); bare titles need a space (김민수 과장), or 조직위원장 would be a name.
_HONORIFIC = (r"(?:\s?(?P<hon>님|씨|고객님|회원님|선생님|교수님|과장님|부장님|차장님|대리님|팀장님|"
              r"사장님|이사님|원장님|대표님|환자분)")
_HONORIFIC += r"|\s(?:고객|회원|과장|부장|차장|대리|팀장|사원|주임|이사|원장|대표|선생|교수))"
_NAME_HONORIFIC = re.compile(
    r"(?<![가-힣0-9A-Za-z,.])([가-힣]{2,4}?)" + _HONORIFIC + r"(?=[^가-힣]|[께의이은가을는에과와도만]|$)"
)
_NAME_LABEL = re.compile(
    r"(고객\s*명|고객\s*성함|성\s*명|성함|이\s*름|예금주|가입자\s*명?|신청인|신청자|수령인|수취인|받는\s*분|보내는\s*분|"
    r"담당자|환자\s*명|피보험자|계약자|보호자|작성자|대표자|명의자|소유자|"
    r"(?<![A-Za-z])(?:[Nn]ame|NAME|[Cc]ustomer|[Hh]older|[Cc]ontact))(?:\s*[:：]\s*|\s+)([가-힣]{2,5})(?![가-힣])"
)
# Particles and copulas that may follow a name after a label ("이름: 김민수입니다").
_NAME_TAILS = (
    "", "님", "씨", "입니다", "이고", "이며", "은", "는", "이", "가", "의", "에게", "께", "께서", "과", "와", "고객",
)
_EN_NAME = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+|\b(?:[Nn]ame|[Cc]ustomer|[Aa]ccount holder|[Pp]atient|[Cc]ontact)\s*:\s*)"
    r"((?:[A-Z][a-z]+|[A-Z]{2,})(?:[ -](?:[A-Z][a-z]+|[A-Z]{2,})){0,2})"
)
_EN_NOT_NAMES = {"N/A", "None", "Unknown", "Anonymous", "Customer", "Service", "Support", "Team", "Manager", "Test"}


# Syllables that end words for teams, offices and places (홍보팀, 본점), almost never a given name.
_NOT_NAME_ENDINGS = set("팀실청점처단층국과부센회측들님씨")
# Particles and verb endings (마치고 고객이, 서류를 과장님께): the word before a title is not a name.
_PARTICLE_ENDINGS = set("를을에로의고며면는께")
_PARTICLES = set("은는이가을를의에도와과로만")
_SSI_NOUNS = set("글솜말날불홀맵음꽃볍가저줌")
# Verbal nouns that start with a surname's syllable (주문, 구매, 이용): 주문한 고객, 가입한 회원, 이용할 고객 are a
# verb before a title, not a name.
_VERBAL_NOUNS = set(
    """주문 구매 구입 가입 신청 신고 이용 이전 이체 방문 반품 문의 예약 배송 배달 동의 인증 변경 연체 연장 연락 정지
    정산 지급 지불 전환 조회 수령 사용 선택 성공 안내 제출 제안 추천 주차 계약 계산 상담 송금 입금 출금 입국 출국
    대출 도착 탈퇴 해지 승인 요청 참여 응답 결제 등록 접수 예치 기부 구독 투자 보유 거주 근무 재직 퇴사 입사 졸업 방송
    발송 설치 수리 교환 환불 취소 확인""".split()
)
_ADNOMINAL = set("한된할던")


def _korean_name(word: str) -> bool:
    """A plausible Korean full name: a known surname and one or two given-name syllables."""
    if word in _NOT_NAMES or word[-1] in _NOT_NAME_ENDINGS:
        return False
    if len(word) == 3 and word[-1] in _ADNOMINAL and word[:2] in _VERBAL_NOUNS:
        return False  # 주문한 (고객): a verb's form before the noun it describes
    for s in _SURNAMES_2:
        if word.startswith(s) and 1 <= len(word) - 2 <= 2:
            return word[2:] not in _NOT_NAMES
    if word[0] in _SURNAMES_1 and 2 <= len(word) <= 3:
        # A role word after a surname-looking syllable (고+객, 사+장) is a role, not a name.
        return len(word) == 3 or word[1:] not in _NOT_NAMES
    return False


def _find_name(text: str) -> Iterable[PIIMatch]:
    for m in _NAME_HONORIFIC.finditer(text):
        word = m[1]
        if word[-1] in _PARTICLE_ENDINGS or (len(word) == 2 and word[1] in _PARTICLES):
            continue  # "원은 고객이", "이를 고객님께": a word and its particle, not a name
        if m["hon"] == "씨" and not m[0][len(word)].isspace() and word[-1] in _SSI_NOUNS:
            continue  # 글씨, 솜씨, 마음씨, 날씨: nouns ending in 씨
        if _korean_name(word):
            yield PIIMatch("NAME", m.start(1), m.end(1), word)
    for m in _NAME_LABEL.finditer(text):
        run = m[2]
        for n in (3, 2, 4):
            if n <= len(run) and run[n:] in _NAME_TAILS and _korean_name(run[:n]):
                yield PIIMatch("NAME", m.start(2), m.start(2) + n, run[:n])
                break
    for m in _EN_NAME.finditer(text):
        name = m[1]
        if name in _EN_NOT_NAMES or name.split()[0] in _EN_NOT_NAMES:
            continue
        yield PIIMatch("NAME", m.start(1), m.end(1), name)


# --- detection and masking --------------------------------------------------------------------------

# Order matters for overlaps: a checksum-validated RRN beats an account-shaped reading of the same digits.
_DETECTORS: tuple[tuple[str, Callable[[str], Iterable[PIIMatch]]], ...] = (
    ("RRN", _find_rrn),
    ("CARD", _find_card),
    ("EMAIL", _find_email),
    ("BRN", _find_brn),
    ("DRIVER_LICENSE", _find_driver_license),
    ("PASSPORT", _find_passport),
    ("PHONE", _find_phone),
    ("ACCOUNT", _find_account),
    ("IP", _find_ip),
    ("NAME", _find_name),
)
_PRIORITY = {name: i for i, (name, _) in enumerate(_DETECTORS)}
_PRIORITY["FRN"] = _PRIORITY["RRN"]


def detect(text: str, types: Iterable[str] | None = None) -> list[PIIMatch]:
    """Every piece of PII in `text`, sorted by position, without overlaps.

    Overlapping candidates are resolved by detector priority (validated, specific types first), then by
    length. `types` limits detection to those types (names from TYPES).
    """
    wanted = set(types) if types is not None else None
    if wanted is not None and (unknown := wanted - set(TYPES)):
        raise ValueError(f"unknown PII types {sorted(unknown)}; valid: {', '.join(TYPES)}")
    found: list[PIIMatch] = []
    for name, finder in _DETECTORS:
        if wanted is not None and name not in wanted and not (name == "RRN" and "FRN" in wanted):
            continue
        found.extend(m for m in finder(text) if wanted is None or m.type in wanted)
    found.sort(key=lambda m: (_PRIORITY[m.type], -(m.end - m.start), m.start))
    # Taken spans kept sorted by start: a candidate overlaps one only if it overlaps a neighbour.
    starts: list[int] = []
    taken: list[PIIMatch] = []
    for m in found:
        i = bisect_left(starts, m.start)
        if i > 0 and taken[i - 1].end > m.start:
            continue
        if i < len(taken) and taken[i].start < m.end:
            continue
        starts.insert(i, m.start)
        taken.insert(i, m)
    return taken


def replace(text: str, matches: Iterable[PIIMatch], repl: Callable[[PIIMatch], str]) -> str:
    """`text` with each (non-overlapping, sorted) match replaced by `repl(match)`."""
    out: list[str] = []
    pos = 0
    for m in matches:
        out.append(text[pos : m.start])
        out.append(repl(m))
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def mask(text: str) -> str:
    """`text` with every detected piece of PII replaced by its type in brackets, e.g. "[PHONE]"."""
    if not text:
        return text
    return replace(text, detect(text), lambda m: f"[{m.type}]")


def contains_pii(text: str) -> bool:
    """Whether any PII is detected in `text`."""
    return bool(detect(text))
