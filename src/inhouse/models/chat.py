"""Chat model backends behind the `ChatModel` protocol.

- `LlamaCppChat`: a GGUF file run in-process by llama-cpp-python (the default; CPU), with or without a
  LoRA adapter.
- `OpenAICompatChat`: any OpenAI-compatible engine (vLLM, llama.cpp server) on a host that the
  configuration allow-lists; every other host is refused before a connection is made.
- `ScriptedChat`: replies queued by a test, for exact-output tests of what surrounds a model.
- `WrappedChat`: the base of a model wrapped to observe or gate its calls; it answers with the inner model's
  name and capabilities.

Each implements `ChatModel.complete` (inhouse.protocols) and passes tests/integration/test_chat_contract.py.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from inhouse.errors import InHouseError, InputError, NotFoundError, PermissionDenied
from inhouse.protocols import Reply

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LlamaCppChat:
    """A GGUF model in this process. Loaded on first use; one generation at a time (llama.cpp state).

    llama-cpp-python keeps the KV cache of the previous prompt and only evaluates the part of a new
    prompt that differs, so a fixed system prompt placed first is processed once, not per question.

    `Reply.tokens` counts every token the model chose, the end-of-reply token included when it wrote one;
    at temperature 0 without `json_schema`, `Reply.logprobs` holds each one's log-probability (the last is
    the end token's when the reply was not cut). A logits processor reads them: the reply is unchanged.

    With `lora_path` (a GGUF LoRA adapter, `inhouse.models.lora`) llama.cpp applies the adapter over the base
    weights; the model's `name` is then "base+adapter", so replies, audit entries and scores say which it was.
    llama-cpp-python loads the weights into memory instead of mapping them when it is given an adapter, so
    each adapted instance (its twin included) holds its own copy of the base.
    """

    reports_logprobs = True
    supports_json_schema = True

    def __init__(self, path: str | Path, name: str | None = None, n_ctx: int = 4096, n_threads: int | None = None,
                 chat_format: str | None = None, seed: int = 0, lora_path: str | Path | None = None,
                 adapter: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise NotFoundError(f"model file {self.path} not found; register one with `inhouse models add PATH.gguf`.")
        self.lora_path = Path(lora_path) if lora_path is not None else None
        if self.lora_path is not None and not self.lora_path.is_file():
            raise NotFoundError(f"adapter file {self.lora_path} not found; see `inhouse models list`.")
        if adapter is not None and self.lora_path is None:
            raise InputError(f"adapter '{adapter}' given without its file (lora_path).")
        self.model = name or self.path.stem  # the base model's name
        self.adapter = (adapter or self.lora_path.stem) if self.lora_path is not None else None
        self.name = f"{self.model}+{self.adapter}" if self.adapter else self.model
        # every core by default (llama-cpp-python's own default generates on half of them: on two cores 0.57×
        # the tokens a second); greedy replies are the same at any thread count
        self.n_threads = n_threads or os.cpu_count() or 1
        self.n_ctx, self.chat_format, self.seed = n_ctx, chat_format, seed
        self._llm = None
        self._lock = threading.Lock()

    @property
    def llm(self):
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise InputError("the llama.cpp backend needs llama-cpp-python: pip install llama-cpp-python") from e
            t0 = time.perf_counter()
            lora = str(self.lora_path) if self.lora_path is not None else None
            try:
                self._llm = Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                  chat_format=self.chat_format, seed=self.seed, lora_path=lora, verbose=False)
            except ValueError as e:
                log.error("cannot load model %s from %s: %s", self.name, self.path, e)
                raise InputError(f"cannot load {self.path} as a GGUF model ({e}).") from e
            except RuntimeError as e:  # llama-cpp-python's word for an adapter llama.cpp would not apply
                log.error("cannot apply adapter %s (%s) to %s: %s", self.adapter, self.lora_path, self.path, e)
                raise InputError(f"cannot apply the LoRA adapter {self.lora_path} to {self.path} ({e}); "
                                 "was it trained on another model?") from e
            log.info("loaded model %s from %s%s in %.1f s (n_ctx %d, %s threads)", self.name, self.path,
                     f" with adapter {self.lora_path}" if lora else "", time.perf_counter() - t0, self.n_ctx,
                     self.n_threads)
        return self._llm

    def twin(self, n_ctx: int = 1024) -> LlamaCppChat:
        """A second instance of the same GGUF with its own KV state (the weights are shared through mmap), for
        short side prompts that would otherwise evict this instance's cached prompt prefix. It carries the same
        adapter, if any."""
        return LlamaCppChat(self.path, name=self.model, n_ctx=n_ctx, n_threads=self.n_threads,
                            chat_format=self.chat_format, seed=self.seed, lora_path=self.lora_path,
                            adapter=self.adapter)

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def complete(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0,
                 stop: Sequence[str] = (), json_schema: dict | None = None,
                 on_piece: Callable[[str], None] | None = None) -> Reply:
        kwargs: dict = {"messages": list(messages), "max_tokens": max_tokens, "temperature": temperature,
                        "stop": list(stop) or None, "stream": True}
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        # At temperature 0 the chosen token is the most likely one, unless a grammar (json_schema) ruled it out.
        greedy = temperature == 0.0 and json_schema is None
        logprobs: list[float] = []
        chosen = 0

        def observe(_ids, logits):
            # Called once for each token the model chooses, before it chooses it.
            nonlocal chosen
            chosen += 1
            if greedy:  # the most likely token's log-softmax: max − logsumexp
                top = float(logits.max())
                logprobs.append(-float(np.log(np.exp(logits - top).sum())))
            return logits

        parts: list[str] = []
        finish = "stop"
        with self._lock:
            from llama_cpp import LogitsProcessorList  # after self.llm, which explains a missing package

            processors = LogitsProcessorList([*self._constraints(), observe])
            stream = self.llm.create_chat_completion(**kwargs, logits_processor=processors)
            try:
                for part in stream:
                    choice = part["choices"][0]
                    piece = choice["delta"].get("content")
                    if piece:
                        parts.append(piece)
                        if on_piece:
                            on_piece(piece)
                    if choice.get("finish_reason") == "length":
                        finish = "length"
            finally:
                stream.close()  # an exception from on_piece stops llama.cpp now, not when the generator is collected
        return Reply("".join(parts), chosen, tuple(logprobs), finish)

    def _constraints(self) -> list[Callable]:
        """Logits processors run before each chosen token of one reply, ahead of the log-probability record (a
        subclass's decoding constraints; none here)."""
        return []


class ModelServerError(InHouseError):
    """A remote model server failed a request it had accepted (an error event, a stream cut short): HTTP 502."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A model server that redirects is misconfigured or hijacked: following it would send the prompt, the
    retrieved documents and the API key to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused (model servers are not "
                                     "followed elsewhere); point base_url at the server itself", headers, fp)


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


class OpenAICompatChat:
    """An OpenAI-compatible /v1/chat/completions endpoint on an allow-listed host, streamed.

    At temperature 0 it asks for each token's log-probability and reports those the server returns
    (`Reply.tokens` is then their count; else the server's `usage`, else the streamed pieces). `logprobs=False`
    stops asking: llama-cpp-python's own server (`python -m llama_cpp.server`, 0.3) streams text that loses the
    bytes of a character split across tokens (Korean syllables) when asked for them; vLLM and llama.cpp's
    `llama-server` do not. `json_schema` is sent as OpenAI's `response_format` of type `json_schema`, and once
    more as `{"type": "json_object", "schema": …}` to a server that refuses that (llama-cpp-python's knows only
    this form).
    """

    reports_logprobs = True
    supports_json_schema = True

    def __init__(self, base_url: str, model: str, allowed_hosts: Sequence[str] = (), api_key: str = "",
                 timeout: float = 120.0, logprobs: bool = True) -> None:
        host = urlparse(base_url).hostname or ""
        if host not in LOOPBACK and host not in set(allowed_hosts):
            raise PermissionDenied(
                f"host '{host}' is not allow-listed for model traffic; add it to the egress_allow setting "
                "(INHOUSE_HOME/config.toml or INHOUSE_EGRESS_ALLOW) if it is your own inference server."
            )
        self.base_url, self.name, self.api_key, self.timeout = base_url.rstrip("/"), model, api_key, timeout
        self.logprobs = logprobs

    def twin(self) -> OpenAICompatChat:
        """The judge of this model's answers (inhouse.answer.judge_for): the server keeps its own KV state."""
        return self

    def _open(self, body: dict):
        """The streamed HTTP response to a /chat/completions request."""
        req = urllib.request.Request(
            self.base_url + "/chat/completions", data=json.dumps(body).encode(), method="POST",
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            },
        )
        try:
            return _NO_REDIRECTS.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            log.warning("model server %s answered HTTP %d (%s)", self.base_url, e.code, e.reason)
            raise InputError(f"the model server at {self.base_url} answered HTTP {e.code}: {e.reason}.") from e
        except urllib.error.URLError as e:
            log.warning("cannot reach the model server %s (%s)", self.base_url, e.reason)
            raise NotFoundError(f"cannot reach the model server at {self.base_url} ({e.reason}); is it running?") from e

    def complete(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0,
                 stop: Sequence[str] = (), json_schema: dict | None = None,
                 on_piece: Callable[[str], None] | None = None) -> Reply:
        body: dict = {"model": self.name, "messages": list(messages), "max_tokens": max_tokens,
                      "temperature": temperature, "stream": True}
        if stop:
            body["stop"] = list(stop)
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": json_schema}}
        if temperature == 0.0 and self.logprobs:
            body |= {"logprobs": True, "top_logprobs": 1}  # llama.cpp's servers send none for top_logprobs 0
        try:
            resp = self._open(body)
        except InputError as e:
            refused = isinstance(e.__cause__, urllib.error.HTTPError) and e.__cause__.code in (400, 422, 500)
            if json_schema is None or not refused:
                raise
            body["response_format"] = {"type": "json_object", "schema": json_schema}
            resp = self._open(body)
        parts: list[str] = []
        logprobs: list[float] = []
        usage: dict = {}
        finish = "stop"
        ended = False
        # Leaving this block closes the response, so an exception from on_piece ends the request at once.
        with resp:
            for raw in resp:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    ended = True
                    break
                event = json.loads(data)
                if "error" in event:
                    detail = event["error"].get("message") if isinstance(event["error"], dict) else event["error"]
                    raise ModelServerError(f"the model server at {self.base_url} stopped with an error: {detail}")
                usage = event.get("usage") or usage
                if not event.get("choices"):
                    continue  # a usage-only event
                choice = event["choices"][0]
                logprobs += [t["logprob"] for t in ((choice.get("logprobs") or {}).get("content") or [])]
                if choice.get("finish_reason"):
                    finish = "length" if choice["finish_reason"] == "length" else "stop"
                    ended = True
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    parts.append(piece)
                    if on_piece:
                        on_piece(piece)
        if not ended:  # the connection closed mid-reply (the server died): the text is cut, not finished
            raise ModelServerError(f"the model server at {self.base_url} closed the stream before the reply ended "
                                   f"({len(parts)} pieces in).")
        tokens = len(logprobs) or usage.get("completion_tokens") or len(parts)
        return Reply("".join(parts), tokens, tuple(logprobs), finish)


def scripted_reply(text: str, *, max_tokens: int, stop: Sequence[str] = (),
                   on_piece: Callable[[str], None] | None = None, logprobs: Sequence[float] = ()) -> Reply:
    """`text` written as a model would write it: cut before the first `stop` string, streamed a word at a time
    (a word is a token), cut at `max_tokens` words. `logprobs`, where given, are a recorded run's: reported as
    they are, they count the tokens."""
    cut = min((text.index(s) for s in stop if s and s in text), default=len(text))
    words = text[:cut].split(" ")
    pieces = [p for p in (w if i == 0 else " " + w for i, w in enumerate(words)) if p]
    finish = "length" if len(pieces) > max_tokens else "stop"
    pieces = pieces[:max_tokens]
    for piece in pieces:
        if on_piece:
            on_piece(piece)
    recorded = tuple(logprobs[:max_tokens])
    return Reply("".join(pieces), len(recorded) or len(pieces), recorded, finish)


class WrappedChat:
    """A model around another: its name, capabilities and twin are the inner model's. Subclasses override
    `complete` (and `twin` where the wrapper must not hand the inner model's out)."""

    def __init__(self, inner) -> None:  # noqa: ANN001 - any ChatModel
        self.inner = inner
        self.name = inner.name

    @property
    def reports_logprobs(self) -> bool:
        return self.inner.reports_logprobs

    @property
    def supports_json_schema(self) -> bool:
        return self.inner.supports_json_schema

    def twin(self):  # noqa: ANN201 - ChatModel | None
        return self.inner.twin()

    def complete(self, messages: Sequence[dict[str, str]], **kwargs) -> Reply:
        return self.inner.complete(messages, **kwargs)


class ScriptedChat:
    """Replies queued with `enqueue`, streamed word by word (`scripted_reply`); records the messages it was
    given. It reports the log-probabilities queued with each reply (a recorded run's), none where none were."""

    reports_logprobs = True
    supports_json_schema = False

    def __init__(self, name: str = "scripted", replies: Sequence[str] = (),
                 logprobs: Sequence[Sequence[float]] = ()) -> None:
        self.name = name
        self.replies: deque[str] = deque(replies)
        # Token log-probabilities to report with each reply in turn.
        self.logprobs: deque[list[float]] = deque(list(x) for x in logprobs)
        self.calls: list[list[dict[str, str]]] = []

    def enqueue(self, *replies: str) -> ScriptedChat:
        self.replies.extend(replies)
        return self

    def twin(self) -> None:
        return None  # its replies are the test's: nothing to judge them with

    def complete(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0,
                 stop: Sequence[str] = (), json_schema: dict | None = None,
                 on_piece: Callable[[str], None] | None = None) -> Reply:
        if json_schema is not None:
            raise InputError("ScriptedChat cannot constrain its replies to a JSON schema.")
        self.calls.append(list(messages))
        if not self.replies:
            raise InputError("ScriptedChat has no reply queued; call enqueue() first.")
        logprobs = self.logprobs.popleft() if self.logprobs else []
        return scripted_reply(self.replies.popleft(), max_tokens=max_tokens, stop=stop, on_piece=on_piece,
                              logprobs=logprobs)
