"""The copy guard: model output that reproduces text contributed for training only is withheld.

A process installs one filter (`install`; the server and `inhouse ask` do when the consortium holds texts): any
object with `min_chars` and `check(text)`, which returns a catch (truthy) when `text` repeats `min_chars` or more
characters of contributed text (inhouse.consortium.CopyFilter). Every reader view applies it to what the model
wrote (inhouse.guard.view), and the plain chat route to its replies:

- `screen(text, context)`: the text, or the withheld notice when it repeats contributed text, alone or together
  with the end of the user's words it answers (a reply completing a user's prefix of contributed text);
- `streaming(on_token)`: a token callback that holds back the last `min_chars − 1` characters and checks the
  whole reply so far before releasing more, so fewer than `min_chars` characters of a copy can ever be sent;
  once a copy is found nothing more is sent but the notice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

WITHHELD = "[withheld: this reply repeats text that partners contributed for training only]"


class CopyCheck(Protocol):
    min_chars: int

    def check(self, text: str) -> object | None: ...


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


def _lead(context: str, guard: CopyCheck) -> str:
    """The end of `context` (what the user wrote before the reply) holding `min_chars − 1` characters besides
    whitespace: a copy of `min_chars` found in it plus the reply reaches into the reply, so a reply that completes
    a user's prefix of contributed text is caught, and a user quoting such text alone is not."""
    need, start = guard.min_chars - 1, len(context)
    while start > 0 and need > 0:
        start -= 1
        need -= not context[start].isspace()
    return context[start:]


def screen(text: str, context: str = "") -> str:
    """`text`, or the withheld notice when it repeats contributed text (together with the end of `context`,
    the user's words it answers)."""
    guard = _installed
    if guard is None or not text or guard.check(_lead(context, guard) + text) is None:
        return text
    return WITHHELD


def streaming(on_token: Callable[[str], None], context: str = "") -> tuple[Callable[[str], None],
                                                                          Callable[[], None]]:
    """(feed, flush) around `on_token`: see the module docstring."""
    guard = _installed
    if guard is None:
        return on_token, lambda: None
    hold = guard.min_chars - 1
    lead = _lead(context, guard)
    whole = ""
    sent = 0
    stopped = False

    def feed(piece: str) -> None:
        nonlocal whole, sent, stopped
        if stopped:
            return
        whole += piece
        if guard.check(lead + whole) is not None:
            stopped = True
            on_token(("\n" if sent else "") + WITHHELD)
            return
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
