"""The copy guard: model output that reproduces text contributed for training only is withheld.

A process installs one filter (`install`; the server and `inhouse ask` do when the consortium holds texts): any
object with `min_chars` and `check(text)`, which returns a catch (truthy) when `text` repeats `min_chars` or more
characters of contributed text (inhouse.consortium.CopyFilter). Every reader view applies it to what the model
wrote (inhouse.guard.view), and the plain chat route to its replies:

- `screen(text, context)`: the text, or the withheld notice when it repeats contributed text, alone or continuing
  the user's own words (all the user wrote in the conversation) into a copy that reaches into the reply;
- `streaming(on_token)`: a token callback that holds back the last `min_chars − 1` characters and checks the
  whole reply so far before releasing more, so fewer than `min_chars` characters of a copy can ever be sent;
  once a copy is found nothing more is sent but the notice.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from typing import Protocol

WITHHELD = "[withheld: this reply repeats text that partners contributed for training only]"


class CopyCheck(Protocol):
    min_chars: int

    def check(self, text: str, after: int = 0) -> object | None: ...


_lock = threading.Lock()
_installed: CopyCheck | None = None


def install(check: CopyCheck | None) -> CopyCheck | None:
    """Make `check` the process's copy guard (None: no guard); returns the one it replaces."""
    global _installed
    with _lock:
        previous, _installed = _installed, check
    return previous


def installed() -> CopyCheck | None:
    return _installed


def _squeezed_length(text: str) -> int:
    """Letters and digits in `text`: how copies are measured (inhouse.consortium.filter.squeeze)."""
    return sum(1 for c in unicodedata.normalize("NFKC", text) if c.isalnum())


def screen(text: str, context: str = "") -> str:
    """`text`, or the withheld notice when it repeats contributed text: alone, or continuing the user's own words
    (`context`, all they wrote in the conversation) into a copy that reaches into `text`. A user quoting such
    text is not a reply repeating it."""
    guard = _installed
    if guard is None or not text:
        return text
    lead = context + "\n" if context else ""
    if guard.check(lead + text, after=_squeezed_length(lead)) is None:
        return text
    return WITHHELD


def streaming(on_token: Callable[[str], None], context: str = "") -> tuple[Callable[[str], None],
                                                                          Callable[[], None]]:
    """(feed, flush) around `on_token`: see the module docstring. Each piece costs what it adds: only copies
    ending in it are looked for."""
    guard = _installed
    if guard is None or not getattr(guard, "active", True):  # nothing to guard: no reason to hold text back
        return on_token, lambda: None
    hold = guard.min_chars - 1
    lead = context + "\n" if context else ""
    checked = _squeezed_length(lead)
    whole = ""
    sent = 0
    stopped = False

    def feed(piece: str) -> None:
        nonlocal whole, sent, stopped, checked
        if stopped:
            return
        whole += piece
        if guard.check(lead + whole, after=checked) is not None:
            stopped = True
            on_token(("\n" if sent else "") + WITHHELD)
            return
        checked += _squeezed_length(piece)
        if len(whole) - sent > hold:
            on_token(whole[sent: len(whole) - hold])
            sent = len(whole) - hold

    def flush() -> None:
        nonlocal sent
        if stopped:
            return
        if sent < len(whole):
            on_token(whole[sent:])
            sent = len(whole)

    return feed, flush
