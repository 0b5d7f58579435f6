"""A remote OpenAI-compatible server as the engine: vLLM serving Granite Speech, or another workbench.

    python -m granite_workbench transcribe talk.wav --backend openai --server http://gpu-box:8000 [--api-key KEY]

Each request becomes one chat completion whose user message holds the clip as an `input_audio` part (16 kHz
WAV, base64) and the prompt table's instruction as text — what vLLM's GraniteSpeech serving and the workbench's
own `/v1/chat/completions` take. An adapter is a model name on the server; vLLM loads new ones at runtime
through `/v1/load_lora_adapter` (`load_adapter`, when the server runs with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`). A batch becomes up to `concurrency` requests in flight at once, so
throughput follows the server, not this process. The server decodes as it does (greedy with temperature 0);
speculative decoding and word timestamps are local features and are reported as not applied.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .engine import Capabilities, DecodingOptions, Generation, Request
from .prompts import instruction

REMOTE_NOTE = "decoded by the remote server (greedy); speculative decoding and word timestamps are local only"


class RemoteError(RuntimeError):
    pass


def served_spec(name: str):
    """The model table's entry for a served model name (vLLM serves under the hub id or a chosen name)."""
    from .models import DEFAULT_MODEL_ID, spec_for

    try:
        return spec_for(name)
    except ValueError:
        return spec_for(DEFAULT_MODEL_ID)


def chat_message(spec, audio_b64: str) -> dict:
    """The user message for one clip: the audio part, and the prompt table's instruction with `<|audio|>` where
    the table puts it. vLLM leaves a placeholder that the text already holds where it is and puts a missing one
    in front followed by a newline (vllm/entrypoints/chat_utils.py, `_get_full_multimodal_text_prompt`): without
    it in the text, the model would get `<|audio|>\\n<instruction>`, a prompt it was not trained on."""
    return {
        "role": "user",
        "content": [
            {"type": "input_audio", "input_audio": {"data": audio_b64, "format": "wav"}},
            {"type": "text", "text": instruction(spec)},
        ],
    }


def wav_base64(samples) -> str:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, 16_000, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode("ascii")


class OpenAIEngine:
    def __init__(
        self,
        server: str,
        api_key: str | None = None,
        model: str | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
    ):
        import httpx

        base = server.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.concurrency = max(1, int(concurrency))
        self.model = model or self.models()[0]
        self.adapters = RemoteAdapters(self)
        # the server decodes greedily and gives no CTC emissions; training happens where the weights are; the tasks
        # are the model table's for a served name it knows, else those of the 4.0 architecture
        spec = served_spec(self.model)
        self.capabilities = Capabilities(tasks=frozenset(spec.tasks), languages=spec.languages)
        self.tokenizer = None  # the server's tokenizer is not here: label lengths are not checked

    @property
    def model_id(self) -> str:
        return self.model

    # -- the Engine protocol -------------------------------------------------------------------------------
    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[Generation]:
        options = options or DecodingOptions()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batch))) as pool:
            texts = list(pool.map(lambda r: self.complete(r, options.max_new_tokens, options.min_new_tokens), batch))
        local_only = options.decoding != "greedy" or options.word_timestamps
        return [Generation(t, path="greedy", note=REMOTE_NOTE if local_only else None) for t in texts]

    def describe(self) -> str:
        return f"{self.model} at {self.base_url} (OpenAI-compatible server)"

    def adapter_names(self) -> list[str]:
        return [m for m in self.models() if m != self.model]

    def adapter_info(self) -> list[dict[str, Any]]:
        return self.adapters.info()

    def load_adapter(self, source: str | Path, name: str | None = None, source_id: str | None = None) -> str:
        """A name the server already serves is used as it is; a folder is loaded onto the server (RemoteAdapters)."""
        if isinstance(source, str) and name is None and source in self.adapter_names():
            return source
        return self.adapters.load(source, name, source_id)

    def unload_adapter(self, name: str) -> None:
        self.adapters.unload(name)

    # -- the server's API ----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs):
        import httpx

        try:
            resp = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteError(f"{self.base_url}{path}: {type(exc).__name__}: {exc}") from None
        if resp.status_code >= 400:
            try:
                message = resp.json()["error"]["message"]
            except Exception:
                message = resp.text[:300]
            raise RemoteError(f"{self.base_url}{path} answered {resp.status_code}: {message}")
        return resp

    def models(self) -> list[str]:
        return [m["id"] for m in self._listing()]

    def _listing(self) -> list[dict]:
        return self._call("GET", "/models").json()["data"]

    def is_workbench(self) -> bool:
        """Is the server another Granite Speech Workbench (it loads adapter folders as they are) rather than
        vLLM (it needs them exported)?"""
        return any(m.get("owned_by") == "granite-workbench" for m in self._listing())

    def complete(self, request: Request, max_tokens: int = 200, min_tokens: int = 0) -> str:
        """One chat completion; `min_tokens` (vLLM's extension, for benchmarks of a fixed length) only when > 0."""
        body = {
            "model": request.adapter or self.model,
            "temperature": 0,
            "max_tokens": max_tokens,
            "messages": [chat_message(request.spec, wav_base64(request.samples))],
        }
        if min_tokens:
            body["min_tokens"] = min_tokens
        answer = self._call("POST", "/chat/completions", json=body).json()
        return (answer["choices"][0]["message"]["content"] or "").strip()

    def server_load(self, name: str, path: str) -> str:
        """Ask the server to load a LoRA folder (a path on the server) as model `name` (vLLM with
        VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, or a workbench in workbench mode)."""
        self._call("POST", "/load_lora_adapter", json={"lora_name": name, "lora_path": path})
        return name

    def server_unload(self, name: str) -> None:
        self._call("POST", "/unload_lora_adapter", json={"lora_name": name})


class RemoteAdapters:
    """The adapter runtime of a remote engine (the interface of adapters.AdapterRuntime): the served models
    besides the base are its adapters; loading asks the server to load a folder at runtime.

    A vLLM server gets the folder exported for it (export.py: keys renamed, written to the hidden
    `.<adapter>.vllm` beside it), since the folder as peft saved it would load there and never apply; another
    workbench gets the folder itself. Either way the server must see the path: the same machine or a shared
    file system."""

    def __init__(self, engine: OpenAIEngine):
        self.engine = engine
        self._sources: dict[str, dict] = {}  # name -> where this process loaded it from

    def names(self) -> list[str]:
        return self.engine.adapter_names()

    def info(self) -> list[dict]:
        return [
            {"name": n, **self._sources.get(n, {"id": n, "path": "", "note": "served by the server"})}
            for n in self.names()
        ]

    def load(self, folder, name: str | None = None, source_id: str | None = None) -> str:
        from .adapters import AdapterError, adapter_name, check_adapter

        folder = Path(folder).resolve()
        meta = check_adapter(folder, label=source_id or folder.name)
        name = name or adapter_name(folder)
        if name in self.names():
            return name
        path = folder
        if not self.engine.is_workbench():
            from .export import export_vllm

            path = folder.with_name(f".{folder.name}.vllm")
            if not path.exists():
                export_vllm(folder, path, name=name)
        try:
            self.engine.server_load(name, str(path))
        except RemoteError as exc:
            raise AdapterError(f"{source_id or folder.name}: the server did not load it ({exc}).") from None
        self._sources[name] = {**meta, "id": source_id or folder.name, "path": str(folder)}
        return name

    def unload(self, name: str) -> None:
        from .adapters import AdapterError

        try:
            self.engine.server_unload(name)
        except RemoteError as exc:
            raise AdapterError(f"Adapter {name!r}: the server did not unload it ({exc}).") from None
        self._sources.pop(name, None)
