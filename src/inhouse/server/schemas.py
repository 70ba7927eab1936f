"""Request bodies of the HTTP API (pydantic), shaped like OpenAI's where the route is OpenAI's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Bounds on what one request may ask of the server (the body as a whole is capped before it is parsed:
# inhouse.server.edge). A message longer than the model's whole context cannot be answered anyway.
MAX_MESSAGE_CHARS = 32_000
MAX_EMBED_INPUTS = 256
MAX_EMBED_CHARS = 8_000


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    # A string, or OpenAI's list of content parts ({"type": "text", "text": ...}); only text is used.
    content: str | list[dict] | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)

    @field_validator("content")
    @classmethod
    def _bounded(cls, v: str | list[dict] | None) -> str | list[dict] | None:
        if isinstance(v, list) and sum(len(str(p.get("text", ""))) for p in v) > MAX_MESSAGE_CHARS:
            raise ValueError(f"a message's text parts may hold at most {MAX_MESSAGE_CHARS} characters")
        return v

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send fields InHouse does not use
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: str | list[str] | None = Field(default=None, max_length=4)
    # One choice per request: the local model generates one answer at a time.
    n: int | None = Field(default=None, ge=1, le=1)


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] = Field(min_length=1)

    @field_validator("input")
    @classmethod
    def _bounded(cls, v: str | list[str]) -> str | list[str]:
        texts = [v] if isinstance(v, str) else v
        if len(texts) > MAX_EMBED_INPUTS:
            raise ValueError(f"at most {MAX_EMBED_INPUTS} inputs per request")
        if any(len(t) > MAX_EMBED_CHARS for t in texts):
            raise ValueError(f"each input may hold at most {MAX_EMBED_CHARS} characters")
        return v
    encoding_format: Literal["float", "base64"] = "float"


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=10, ge=1, le=100)
    mode: Literal["hybrid", "lexical", "dense"] = "hybrid"
