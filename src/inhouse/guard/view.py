"""The reader view: what one principal may see of stored text and of what the model wrote.

Every surface (the CLI, the HTTP routes, the chat answer, the audit log) reads chunks through
`inhouse.retrieve`, which passes each one through a `ReaderView` before it leaves retrieval, so no
surface can forget to mask. The view does, for one principal:

- stored text (chunk text and its headings): injected instructions, fake turns, exfiltration links and
  hidden characters neutralized (inhouse.guard.injection), then PII masked unless the reader is cleared
  (member of the `pii` group); vault tokens are masked for uncleared readers and kept for cleared ones;
- questions: hidden characters removed, attempts to override the rules refused (`question`);
- model output: links to hosts outside the sources and the config stripped, PII masked or tokens revealed
  (`answer`, `text`, `stream`), and withheld when it repeats text contributed for training only
  (inhouse.guard.copies, whenever a copy guard is installed).

`ReaderView.unguarded(principal)` switches the screening and masking off (store permissions stay on):
the red-team bench's baseline, never a product path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace as dc_replace
from functools import lru_cache

from inhouse.guard import copies
from inhouse.guard.injection import kinds, neutralize, strip_links
from inhouse.guard.pii import mask
from inhouse.guard.policy import cleared, for_reader
from inhouse.guard.screening import Screening, reader_text, screen_answer, screen_question, streaming_filter
from inhouse.guard.vault import Vault, mask_tokens
from inhouse.types import Chunk, Principal


@lru_cache(maxsize=8192)
def _stored(text: str, screens: bool, masks: bool) -> tuple[str, tuple[str, ...]]:
    """Stored text as a reader sees it, and the screening kinds flagged in it (memoised: the same chunks
    come back search after search, and PII detection costs ~1 ms per KB)."""
    flags: tuple[str, ...] = ()
    if screens:
        text, found = neutralize(text)
        flags = tuple(kinds(found))
    if masks:
        text = mask(mask_tokens(text))
    return text, flags


class ReaderView:
    """The guard for one principal, applied wherever text reaches them (see the module docstring)."""

    def __init__(self, principal: Principal, screens: bool = True, masks: bool = True) -> None:
        self.principal = principal
        self.screens = screens
        self.masks = masks and not cleared(principal)

    @classmethod
    def unguarded(cls, principal: Principal) -> ReaderView:
        """No screening and no masking (benchmark baselines only)."""
        return cls(principal, screens=False, masks=False)

    # ---- stored text --------------------------------------------------------------------------------
    def stored(self, text: str) -> tuple[str, tuple[str, ...]]:
        """A stored text (chunk, heading, title) as this reader may see it, and what screening flagged."""
        if not self.screens and not self.masks:
            return text, ()
        return _stored(text, self.screens, self.masks)

    def chunk(self, ch: Chunk) -> Chunk:
        """`ch` with its text and headings as this reader may see them; `flags` says what was screened."""
        text, flags = self.stored(ch.text)
        headings = tuple(self.stored(h)[0] for h in ch.heading_path)
        if (text, headings, flags) == (ch.text, ch.heading_path, ch.flags):
            return ch
        return dc_replace(ch, text=text, heading_path=headings, flags=flags)

    # ---- questions and model output -----------------------------------------------------------------
    def question(self, question: str) -> tuple[str, Screening]:
        """The question without hidden characters, and whether it must be refused."""
        if not self.screens:
            return question, Screening(pii_masked=self.masks)
        q, s = screen_question(question)
        s.pii_masked = self.masks
        return q, s

    def text(self, text: str, context: str = "") -> str:
        """Model output or any other text shown as it is (claims, drafts, a plain chat reply to `context`): PII
        masked unless cleared."""
        text = copies.screen(text, context)
        return reader_text(text, self.principal) if self.masks else text

    def written(self, text: str, hosts: set[str]) -> str:
        """Other model output shown beside the answer (its claims, kept or removed; the draft): links to
        unlisted hosts stripped, PII masked unless cleared. A removed claim is shown too, and a client that
        renders it as Markdown would otherwise fetch its image."""
        if not self.screens and not self.masks:
            return copies.screen(text)
        return self.text(strip_links(text, hosts)[0] if self.screens else text)

    def revealed(self, text: str, vault: Vault | None = None) -> str:
        """Text whose vault tokens a cleared reader sees revealed; masked for an uncleared one."""
        if not self.screens and not self.masks:
            return text
        return for_reader(text, self.principal, vault)

    def answer(self, text: str, hosts: set[str], screening: Screening, vault: Vault | None = None) -> str:
        """An answer as this reader may see it: unlisted links stripped, PII masked or tokens revealed."""
        text = copies.screen(text)
        if not self.screens and not self.masks:
            return text
        return screen_answer(text, self.principal, hosts, screening, vault)

    def stream(
        self, on_token: Callable[[str], None], hosts: set[str], context: str = ""
    ) -> tuple[Callable[[str], None], Callable[[], None]]:
        """A token callback whose text is screened word by word (see screening.streaming_filter) after the copy
        guard has held it back (see copies.streaming; `context`: the user's words the reply answers)."""
        if not self.screens and not self.masks:
            return copies.streaming(on_token, context)
        screened, flush_screened = streaming_filter(on_token, self.principal, hosts)
        feed, flush_copies = copies.streaming(screened, context)

        def flush() -> None:
            flush_copies()
            flush_screened()

        return feed, flush
