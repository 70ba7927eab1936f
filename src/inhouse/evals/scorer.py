"""Log-likelihood of continuations from llama.cpp logits, with the KV cache reused between requests.

Tokenisation follows lm-eval's `_encode_pair`: trailing spaces of the context move to the front of the
continuation, the whole string is tokenised once, and the continuation is whatever lies after the
context's own tokens. A BOS token is added when the GGUF says the model wants one (Gemma) and not
otherwise (Qwen), which is what lm-eval's `hf` backend does for the same models.

Speed: the cache holds the tokens of the previous request. A new request is decoded only from the first
token where it differs (choices of one question share the context, so the context is evaluated once and
each choice costs only its own tokens), and logits are requested only at the positions that predict
continuation tokens instead of at every position (`logits_all` would compute a 150k-wide row per token).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inhouse.errors import InputError, NotFoundError

# GGUF general.file_type codes (llama.cpp's LLAMA_FTYPE) for the quantisations seen in practice.
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
              11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
              17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


class LlamaScorer:
    """One GGUF model in this process, answering log-likelihood and greedy-generation requests; with
    `lora_path`, a LoRA adapter (a GGUF adapter) is applied over its weights."""

    def __init__(self, path: str | Path, n_ctx: int = 4096, n_threads: int | None = None, n_batch: int = 512,
                 lora_path: str | Path | None = None, special: bool = False) -> None:
        """`special`: read special tokens written in the text (<|im_start|> …) as themselves, for prompts in the
        model's chat format; lm-eval's tasks never contain them, so the default reads them as text."""
        self.path = Path(path)
        if not self.path.is_file():
            raise NotFoundError(f"model file {self.path} not found; register one with `inhouse models add PATH.gguf`.")
        if lora_path is not None and not Path(lora_path).is_file():
            raise NotFoundError(f"adapter file {lora_path} not found; see `inhouse models list`.")
        try:
            from llama_cpp import Llama, llama_cpp
        except ImportError as e:
            raise InputError("evaluation needs llama-cpp-python: pip install llama-cpp-python") from e
        self._lib = llama_cpp
        try:
            self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                             n_batch=n_batch, n_ubatch=n_batch, logits_all=False,
                             lora_path=str(lora_path) if lora_path is not None else None, verbose=False)
        except ValueError as e:
            raise InputError(f"cannot load {self.path} as a GGUF model ({e}).") from e
        except RuntimeError as e:  # llama-cpp-python's word for an adapter llama.cpp would not apply
            raise InputError(f"cannot apply the LoRA adapter {lora_path} to {self.path} ({e}).") from e
        self.n_ctx, self.n_batch, self.special = n_ctx, n_batch, special
        self.n_vocab = self.llm.n_vocab()
        self.add_bos = self.llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
        self._cached: list[int] = []  # tokens whose K/V are in sequence 0 of the cache
        self._lock = threading.Lock()

    @property
    def quantisation(self) -> str:
        ft = self.llm.metadata.get("general.file_type")
        if ft is not None and ft.isdigit() and int(ft) in FILE_TYPES:
            return FILE_TYPES[int(ft)]
        m = re.search(r"(q\d_k_[sml]|q\d_k|q\d_\d|f16|f32|bf16)", self.path.name.lower())
        return m.group(1).upper() if m else "unknown"

    # ---- tokenisation ------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=self.add_bos, special=self.special)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """`messages` in the model's own chat template (from the GGUF), ready for the assistant's reply."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise InputError(f"{self.path.name} has no chat template.")
        eos = self.llm._model.token_get_text(self.llm.token_eos())
        bos = self.llm._model.token_get_text(self.llm.token_bos()) if self.llm.token_bos() >= 0 else ""
        return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=messages).prompt

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """lm-eval's TemplateLM._encode_pair, token for token."""
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        if not context:  # lm-eval conditions an empty context on the prefix token (BOS, else EOS)
            bos = self.llm.token_bos()
            prefix = bos if bos >= 0 else self.llm.token_eos()
            return [prefix], self.llm.tokenize(continuation.encode("utf-8"), add_bos=False, special=False)
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        return ctx, whole[len(ctx):]

    # ---- scoring -----------------------------------------------------------------------------------

    def _decode(self, tokens: Sequence[int], start: int, want: set[int]) -> dict[int, np.ndarray]:
        """Decode tokens[start:] after dropping cached K/V from `start`; return logits rows at `want`."""
        ctx, batch = self.llm._ctx, self.llm._batch
        ctx.kv_cache_seq_rm(0, start, -1)
        self._cached = list(tokens[:start])
        rows: dict[int, np.ndarray] = {}
        for b0 in range(start, len(tokens), self.n_batch):
            chunk = tokens[b0:b0 + self.n_batch]
            batch.batch.n_tokens = len(chunk)
            for k, tok in enumerate(chunk):
                batch.batch.token[k] = tok
                batch.batch.pos[k] = b0 + k
                batch.batch.seq_id[k][0] = 0
                batch.batch.n_seq_id[k] = 1
                batch.batch.logits[k] = (b0 + k) in want
            ctx.decode(batch)
            self._cached.extend(chunk)
            for k in range(len(chunk)):
                if (b0 + k) in want:
                    ptr = ctx.get_logits_ith(k)
                    rows[b0 + k] = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64)
        return rows

    def loglikelihood_tokens(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        """(sum of log p(continuation tokens), whether greedy decoding would produce exactly them)."""
        if not continuation:
            return 0.0, True
        full = context + continuation
        if len(full) > self.n_ctx:  # lm-eval keeps the last max_length+1 tokens
            cut = len(full) - self.n_ctx
            full, context = full[cut:], context[cut:]
        first = len(context) - 1  # the position whose logits predict the first continuation token
        want = set(range(first, len(full) - 1))
        common = 0
        for a, b in zip(self._cached, full, strict=False):
            if a != b:
                break
            common += 1
        start = min(common, first)  # logits are not kept, so re-decode from the first wanted position
        rows = self._decode(full, start, want)
        total, greedy = 0.0, True
        for pos in range(first, len(full) - 1):
            row = rows[pos]
            m = row.max()
            lse = m + np.log(np.exp(row - m).sum())
            nxt = full[pos + 1]
            total += float(row[nxt] - lse)
            greedy = greedy and int(row.argmax()) == nxt
        return total, greedy

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        with self._lock:
            return [self.loglikelihood_tokens(*self.encode_pair(c, x)) for c, x in requests]

    def generate(self, context: str, until: Sequence[str], max_tokens: int) -> str:
        """Greedy continuation of `context`, cut at the first stop sequence (lm-eval's generate_until)."""
        with self._lock:
            self.llm.reset()
            self.llm._ctx.kv_cache_clear()
            self._cached = []
            prompt = self.encode(context)
            out = self.llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_k=1,
                                             stop=list(until) or None)
            self.llm._ctx.kv_cache_clear()
            self.llm.reset()
            return out["choices"][0]["text"]
