"""The second pass's text model, behind one small protocol: a local Granite text model (transformers) or any
OpenAI-compatible chat server (vLLM, Ollama, llama.cpp's server, another workbench's /v1/chat/completions).

    engine = open_text_engine("tiny")                      # or a hub id / folder; loaded on first use
    engine = open_text_engine(None, server="http://gpu:8000", served="ibm-granite/granite-4.0-1b")
    for piece in engine.stream([{"role": "user", "content": "..."}], max_new_tokens=200): ...

Both decode greedily (a summary should not change from one press to the next)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import Protocol

log = logging.getLogger(__name__)

# Granite 4.0's 1B instruct model: the speech model's language model is its base (granite-4.0-1b-base), so the
# two share the tokenizer and the architecture; about 3.3 GB in bfloat16, 128K tokens of context
DEFAULT_TEXT_MODEL = "ibm-granite/granite-4.0-1b"
TINY_TEXT = "tiny"
# what a server's context is taken to be when it does not say (vLLM's /v1/models gives max_model_len)
SERVER_CONTEXT = 8192


class TextModelError(RuntimeError):
    """The text model cannot be loaded or reached, or it failed to answer."""


class TextEngine(Protocol):
    name: str  # which model answers, as a person reads it (shown with every answer)

    @property
    def context_tokens(self) -> int: ...  # prompt and answer together

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: list[dict], max_new_tokens: int) -> Iterator[str]: ...  # the answer, piece by piece


class LocalTextEngine:
    """A causal language model loaded here (`AutoModelForCausalLM`), on first use: a demo that never asks for a
    second pass never loads it. Device and dtype follow the speech model's rules (loading.pick_device /
    pick_dtype). One answer at a time (the model is not re-entrant; callers queue on the lock)."""

    def __init__(
        self, model_id: str = DEFAULT_TEXT_MODEL, device: str = "auto", dtype: str = "auto", context: int | None = None
    ):
        self.model_id = model_id
        self.name = "tiny text model (random weights)" if model_id == TINY_TEXT else model_id
        self.device, self.dtype = device, dtype
        self.context = context  # tokens of prompt and answer at most (default: the model's own)
        self._loaded = None
        self._lock = threading.Lock()

    def _load(self):
        if self._loaded is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from .loading import pick_device, pick_dtype, resolve_model_path, stored_dtype

            path = self.model_id
            if self.model_id == TINY_TEXT:
                from .tiny_text import ensure_tiny_text_model

                path = str(ensure_tiny_text_model())
            else:
                path, _ = resolve_model_path(self.model_id)
            device = pick_device(self.device)
            dtype, _ = pick_dtype(device, self.dtype, stored=stored_dtype(path))
            try:
                tokenizer = AutoTokenizer.from_pretrained(path)
                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
            except (OSError, ValueError) as exc:
                raise TextModelError(f"The text model {self.model_id!r} could not be loaded: {exc}") from exc
            log.info("text model %s loaded on %s (%s)", self.name, device, dtype)
            self._loaded = (tokenizer, model)
        return self._loaded

    @property
    def context_tokens(self) -> int:
        own = int(self._load()[1].config.max_position_embeddings)
        return min(own, self.context) if self.context else own

    def count_tokens(self, text: str) -> int:
        return len(self._load()[0](text, add_special_tokens=False).input_ids)

    def prompt_ids(self, messages: list[dict]):
        """The prompt as the model's own chat template renders it (the tokens `stream` sends)."""
        tokenizer, model = self._load()
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids.to(model.device)

    def stream(self, messages: list[dict], max_new_tokens: int) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        with self._lock:
            tokenizer, model = self._load()
            ids = self.prompt_ids(messages)
            streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
            failed: list[BaseException] = []

            def generate():
                try:
                    model.generate(
                        ids, attention_mask=ids.new_ones(ids.shape), max_new_tokens=max_new_tokens,
                        do_sample=False, streamer=streamer,
                    )  # fmt: skip
                except BaseException as exc:  # reported to the reader below, after the stream ends
                    failed.append(exc)
                    streamer.end()

            worker = threading.Thread(target=generate, name="text-model", daemon=True)
            worker.start()
            yield from (piece for piece in streamer if piece)
            worker.join()
            if failed:
                raise TextModelError(f"The text model failed: {failed[0]}") from failed[0]


class ServerTextEngine:
    """An OpenAI-compatible chat server: /v1/chat/completions, streamed (server-sent events). The served model is
    `served`, or the server's first. Tokens are estimated (3 characters each, on the safe side for English and
    the European languages): the server's tokenizer is not reachable through the API."""

    def __init__(self, url: str, served: str | None = None, api_key: str | None = None, timeout: float = 600.0):
        self.url = url.rstrip("/").removesuffix("/v1")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self._served, self._context = served, None

    def _models(self) -> list[dict]:
        import httpx

        try:
            r = httpx.get(f"{self.url}/v1/models", headers=self.headers, timeout=30)
            r.raise_for_status()
            return r.json().get("data", [])
        except (httpx.HTTPError, ValueError) as exc:
            raise TextModelError(f"The text server {self.url} did not answer /v1/models: {exc}") from exc

    @property
    def name(self) -> str:
        if self._served is None:
            models = self._models()
            if not models:
                raise TextModelError(f"The text server {self.url} serves no model.")
            self._served = models[0]["id"]
        return self._served

    @property
    def context_tokens(self) -> int:
        if self._context is None:
            info = next((m for m in self._models() if m.get("id") == self.name), {})
            self._context = int(info.get("max_model_len") or SERVER_CONTEXT)
        return self._context

    def count_tokens(self, text: str) -> int:
        return len(text) // 3 + 1

    def stream(self, messages: list[dict], max_new_tokens: int) -> Iterator[str]:
        import httpx

        body = {
            "model": self.name, "messages": messages, "max_tokens": max_new_tokens, "temperature": 0, "stream": True,
        }  # fmt: skip
        try:
            with httpx.stream(
                "POST", f"{self.url}/v1/chat/completions", json=body, headers=self.headers, timeout=self.timeout
            ) as r:
                if r.status_code != 200:
                    r.read()
                    raise TextModelError(f"The text server answered {r.status_code}: {r.text[:300]}")
                yield from server_pieces(r.iter_lines())
        except httpx.HTTPError as exc:
            raise TextModelError(f"The text server {self.url} failed: {exc}") from exc


def server_pieces(lines) -> Iterator[str]:
    """The text pieces of a streamed chat completion (server-sent events: `data: {json}` ... `data: [DONE]`)."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:
            raise TextModelError(f"The text server failed: {chunk['error']}")
        for choice in chunk.get("choices", []):
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece


def open_text_engine(
    model: str | None,
    *,
    server: str | None = None,
    served: str | None = None,
    api_key: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
) -> TextEngine:
    """`--text-model` / `--text-server`: a server when a URL is given (`model` then names its served model),
    else the local model `model` (default $GRANITE_WB_TEXT_MODEL, else DEFAULT_TEXT_MODEL; "tiny": the offline
    miniature). Nothing loads yet."""
    if server:
        return ServerTextEngine(server, served or model, api_key)
    return LocalTextEngine(model or os.environ.get("GRANITE_WB_TEXT_MODEL") or DEFAULT_TEXT_MODEL, device, dtype)
