"""The guard's hooks in the answer path: question in, retrieved chunks, answer out.

1. `screen_question`: hidden characters are removed; a question that tries to override the rules, fake
   a system turn, extract the system prompt or other tenants' data, or plant an exfiltration link is
   refused before retrieval (nothing is generated for it).
2. Retrieved chunks are screened by the reader view (inhouse.guard.view) inside retrieval: flagged
   sentences replaced by a marker, images dropped (the rest is still quoted to the model as data) and,
   for readers without PII clearance, PII masked, so the model never sees personal data it must not
   repeat. Vault tokens are masked for uncleared readers and kept for cleared ones (revealed after
   generation).
3. `screen_answer`: links to hosts that are neither in the sources the model saw nor in the config are
   stripped; PII is masked for uncleared readers, tokens revealed for cleared ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from inhouse.guard.injection import hosts_in, kinds, screen, strip_links
from inhouse.guard.pii import mask
from inhouse.guard.policy import cleared, for_reader
from inhouse.guard.vault import Vault, mask_tokens
from inhouse.types import Principal

REFUSE_KINDS = ("ignore_instructions", "role_turn", "prompt_extraction", "exfiltration")
REFUSAL = {
    "ko": "이 요청은 보안 정책에 따라 처리할 수 없습니다. 문서 내용에 대한 질문을 해 주세요.",
    "en": "I can't help with that: the request tries to change my rules or reach data outside your documents.",
}
_HIDDEN = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad\u180e\U000e0000-\U000e007f]")


@dataclass
class Screening:
    """What the guard saw and did for one question (reported with the answer and by `inhouse redteam`)."""

    question_flags: list[str] = field(default_factory=list)
    refused: bool = False
    chunk_flags: dict[int, list[str]] = field(default_factory=dict)  # chunk id → kinds
    links_removed: list[str] = field(default_factory=list)
    pii_masked: bool = True

    def to_json(self) -> dict:
        return {
            "question_flags": self.question_flags,
            "refused": self.refused,
            "flagged_chunks": {str(k): v for k, v in self.chunk_flags.items()},
            "links_removed": self.links_removed,
            "pii_masked": self.pii_masked,
        }

    @property
    def any(self) -> bool:
        return bool(self.question_flags or self.chunk_flags or self.links_removed)


def screen_question(question: str) -> tuple[str, Screening]:
    """The question without hidden characters, and whether it must be refused."""
    s = Screening()
    s.question_flags = kinds(screen(question))
    s.refused = any(k in REFUSE_KINDS for k in s.question_flags)
    return _HIDDEN.sub("", question), s


def allowed_hosts(source_texts: Iterable[str], config_hosts: Iterable[str] = ()) -> set[str]:
    """Hosts an answer may link to: those in the (screened) sources the model saw, and the config's."""
    return hosts_in(source_texts) | {h.strip().lower() for h in config_hosts if h.strip() and h.strip() != "*"}


def screen_answer(text: str, principal: Principal, hosts: set[str], screening: Screening,
                  vault: Vault | None = None) -> str:
    """The answer as `principal` may see it: unlisted links stripped, PII masked or tokens revealed."""
    text, removed = strip_links(text, hosts)
    screening.links_removed.extend(removed)
    return for_reader(text, principal, vault)


def reader_text(text: str, principal: Principal) -> str:
    """Any other text shown to the reader (claims, quoted sources): masked unless cleared."""
    return text if cleared(principal) else mask(mask_tokens(text))


def streaming_filter(on_token: Callable[[str], None], principal: Principal, hosts: set[str]) -> tuple[
        Callable[[str], None], Callable[[], None]]:
    """Wrap a token callback so streamed text is screened word by word (links stripped, PII masked).

    Returns (callback, flush). A word is released when whitespace follows it, so a URL or a number is
    screened whole before anyone sees it.
    """
    buf: list[str] = []

    def release(chunk: str) -> None:
        cleaned, _ = strip_links(chunk, hosts)
        on_token(reader_text(cleaned, principal))

    def feed(piece: str) -> None:
        buf.append(piece)
        joined = "".join(buf)
        cut = max(joined.rfind(" "), joined.rfind("\n"))
        if cut >= 0:
            release(joined[: cut + 1])
            buf[:] = [joined[cut + 1 :]] if cut + 1 < len(joined) else []

    def flush() -> None:
        if buf:
            release("".join(buf))
            buf.clear()

    return feed, flush
