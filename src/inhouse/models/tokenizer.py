"""A model's own tokenizer without its weights: llama.cpp reads only the vocabulary of a GGUF file, so counting
tokens the way the served model counts them costs a fraction of a second and a few MB."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inhouse.errors import InputError, NotFoundError


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (where llama.cpp's C code writes) for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Tokenizer:
    """Counts tokens of text with the vocabulary of the GGUF model at `path` (named `name`)."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise NotFoundError(f"model file {self.path} not found; register one with `inhouse models add PATH.gguf`.")
        self.name = name or self.path.stem
        from llama_cpp import Llama

        try:
            with _quiet_stderr():  # llama.cpp warns that a vocabulary has no training context: true, and moot
                self._llm = Llama(model_path=str(self.path), vocab_only=True, verbose=False)
        except ValueError as e:
            raise InputError(f"cannot read the vocabulary of {self.path} ({e}).") from e
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        """Tokens of `text` as the model would read it inside a prompt (no BOS, special tokens as text)."""
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
