"""OpenAI-compatible routes on the demo's own server, so that any OpenAI client reaches the model and its adapters.

    GET  /v1/models                    the base model and every loaded adapter (an adapter is a model name)
    POST /v1/audio/transcriptions      OpenAI's multipart form: file, model, language, prompt (keywords, comma-
                                       separated), response_format json|text|srt|vtt|verbose_json,
                                       timestamp_granularities[]=word (words in verbose_json)
    POST /v1/audio/translations        the same form; into English (OpenAI's contract), or `target_language`
    POST /v1/chat/completions          a user message with one `input_audio` part and the prompt table's
                                       instruction as its text part (what vLLM's GraniteSpeech serving takes)
    POST /v1/load_lora_adapter         vLLM's runtime loading: {lora_name, lora_path}, a path the Adapters tab
    POST /v1/unload_lora_adapter       lists (workbench mode); {lora_name}

Requests run through the same Workbench as the UI (its limits on audio length and tokens, its locks), at most
`MAX_CONCURRENT` at a time; up to `MAX_WAITING` more wait for a slot, beyond that they get HTTP 429. Errors come back in OpenAI's shape:
`{"error": {"message", "type", "param", "code"}}`. In showcase mode these routes only read (no adapter
loading); when the demo runs with `--auth`, they need `--api-key` (sent as `Authorization: Bearer KEY`).
"""
from __future__ import annotations

import base64
import binascii
import os
import tempfile
import threading
import time
import uuid
from typing import Any

from starlette.requests import Request  # a real name, not a string annotation: FastAPI injects the request

from .adapters import BASE, AdapterError
from .audio import AudioError
from .languages import UnsupportedLanguageError
from .prompts import TaskSpec, parse_instruction
from .service import ModelNotReady
from .session import TranscriptionError, Workbench
from .writers import to_srt, to_vtt

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
MAX_CONCURRENT = 8  # requests decoding at once (they share the model's lock: this bounds memory, not speed)
MAX_WAITING = 32  # requests waiting for a slot; more are refused with 429
WAIT_SECONDS = 600.0
MAX_AUDIO_BYTES = 200 * 2**20


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def error_body(exc: APIError) -> dict:
    return {"error": {"message": exc.message, "type": exc.kind, "param": exc.param, "code": exc.code}}


class OpenAIRoutes:
    """The route handlers, free of the web framework (tested directly and mounted by `mount`)."""

    def __init__(self, wb: Workbench, api_key: str | None = None, key_required: bool = False):
        self.wb = wb
        self.api_key = api_key
        self.key_required = key_required or bool(api_key)
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        self.waiting = 0
        self.waiting_lock = threading.Lock()

    # -- checks --------------------------------------------------------------------------------------------
    def authorize(self, header: str | None) -> None:
        if not self.key_required:
            return
        if not self.api_key:
            raise APIError(401, "This server runs with --auth: start it with --api-key to use the OpenAI routes.",
                           code="invalid_api_key", kind="authentication_error")
        if header != f"Bearer {self.api_key}":
            raise APIError(401, "Incorrect API key provided.", code="invalid_api_key", kind="authentication_error")

    def base_name(self) -> str:
        return self.wb.service.model_id or BASE

    def ready(self) -> bool:
        return self.wb.service.state == "ready"

    def adapter_for(self, model: str | None) -> str | None:
        """The adapter a model name stands for (None: the base model)."""
        if not model or model in (BASE, self.base_name()):
            return None
        try:
            return self.wb.adapter_for(model)
        except AdapterError:
            raise APIError(404, f"The model {model!r} does not exist. Models: {', '.join(self.model_ids())}.",
                           param="model", code="model_not_found") from None

    def model_ids(self) -> list[str]:
        return [self.base_name(), *self.wb.engine().adapter_names()] if self.ready() else [self.base_name()]

    # -- handlers ------------------------------------------------------------------------------------------
    def models(self) -> dict:
        now = int(time.time())
        return {"object": "list", "data": [{"id": m, "object": "model", "created": now, "owned_by": "granite-workbench"}
                                           for m in self.model_ids()]}

    def audio(self, task: str, data: bytes, filename: str, form: dict[str, Any]) -> tuple[Any, str]:
        """(body, media type) for /v1/audio/transcriptions (task 'asr') and /v1/audio/translations ('ast')."""
        fmt = form.get("response_format") or "json"
        if fmt not in RESPONSE_FORMATS:
            raise APIError(400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, not {fmt!r}.",
                           param="response_format")
        language = form.get("language") or None
        keywords = form.get("prompt") or ()
        words = "word" in (form.get("timestamp_granularities[]") or form.get("timestamp_granularities") or [])
        try:
            if task == "asr":
                spec = TaskSpec("asr", language=language, keywords=keywords)
            else:
                spec = TaskSpec("ast", language=language, target=form.get("target_language") or "en")
        except (UnsupportedLanguageError, ValueError) as exc:
            raise APIError(400, str(exc), param="language") from None
        res = self.run(data, filename, spec, form.get("model"), word_timestamps=words)
        if fmt == "text":
            return res.text + "\n", "text/plain"
        if fmt == "srt":
            return to_srt(res), "text/plain"
        if fmt == "vtt":
            return to_vtt(res), "text/vtt"
        if fmt == "json":
            return {"text": res.text}, "application/json"
        body = {"task": "transcribe" if task == "asr" else "translate", "language": res.language or language,
                "duration": round(res.duration, 3), "text": res.text,
                "segments": [{"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text}
                             for i, s in enumerate(res.segments)]}
        if words:
            body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in res.words]
        return body, "application/json"

    def chat(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise APIError(400, "The body must be a JSON object.")
        if body.get("stream"):
            raise APIError(400, "Streaming is not supported; send stream=false.", param="stream")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
            raise APIError(400, "messages must be a non-empty list.", param="messages")
        content = messages[-1].get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        audio = [p.get("input_audio") for p in parts if isinstance(p, dict) and p.get("type") == "input_audio"]
        texts = [p.get("text") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
        if len(audio) != 1 or not isinstance(audio[0], dict):
            raise APIError(400, "The last message needs exactly one input_audio part.", param="messages")
        try:
            data = base64.b64decode(audio[0].get("data") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise APIError(400, "input_audio.data is not valid base64.", param="messages") from None
        try:
            spec = parse_instruction(" ".join(t for t in texts if isinstance(t, str)))
        except (UnsupportedLanguageError, ValueError) as exc:
            raise APIError(400, str(exc), param="messages") from None
        res = self.run(data, f"audio.{audio[0].get('format') or 'wav'}", spec, body.get("model"))
        model = body.get("model") or self.base_name()
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": res.text}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    def lora(self, action: str, body: Any) -> str:
        """vLLM's runtime adapter routes: /v1/load_lora_adapter {lora_name, lora_path} loads an adapter of the
        Adapters tab (its path must be one of them) as model `lora_name`; /v1/unload_lora_adapter {lora_name}.
        Workbench mode only."""
        from pathlib import Path

        if self.wb.showcase:
            raise APIError(403, "Adapters cannot be loaded or unloaded in this demo (showcase mode).",
                           kind="permission_error")
        if not isinstance(body, dict) or not isinstance(body.get("lora_name"), str) or not body["lora_name"]:
            raise APIError(400, "lora_name is required.", param="lora_name")
        if not self.ready():
            raise APIError(503, "The model is still loading; try again in a moment.", kind="server_error",
                           code="model_not_ready")
        name = body["lora_name"]
        try:
            if action == "unload":
                self.wb.unload_adapter(name)
                return f"Success: LoRA adapter '{name}' removed successfully."
            path = body.get("lora_path")
            real = Path(path).resolve() if isinstance(path, str) and path else None
            entry = next((e for e in self.wb.registry.scan() if e.path.resolve() == real), None)
            if entry is None:
                raise APIError(404, "lora_path is not an adapter in this workbench's checkpoints folder.",
                               param="lora_path", code="lora_not_found")
            self.wb.engine().adapters.load(entry.path, name, source_id=entry.id)
        except AdapterError as exc:
            raise APIError(400, str(exc), param="lora_name") from None
        return f"Success: LoRA adapter '{name}' added successfully."

    def run(self, data: bytes, filename: str, spec: TaskSpec, model: str | None, word_timestamps: bool = False):
        if not data:
            raise APIError(400, "The audio is empty.", param="file")
        if len(data) > MAX_AUDIO_BYTES:
            raise APIError(413, f"The audio is larger than {MAX_AUDIO_BYTES // 2**20} MB.", param="file")
        if not self.ready():
            raise APIError(503, "The model is still loading; try again in a moment.", kind="server_error",
                           code="model_not_ready")
        adapter = self.adapter_for(model)
        with self.waiting_lock:
            full = self.waiting >= MAX_WAITING
            self.waiting += not full
        if full:
            raise APIError(429, "The server is busy; try again shortly.", kind="rate_limit_error",
                           code="rate_limit_exceeded")
        try:
            got = self.slots.acquire(timeout=WAIT_SECONDS)
        finally:
            with self.waiting_lock:
                self.waiting -= 1
        if not got:
            raise APIError(429, "The server is busy; try again shortly.", kind="rate_limit_error",
                           code="rate_limit_exceeded")
        suffix = "".join(c for c in os.path.splitext(os.path.basename(filename or ""))[1][:10]
                         if c.isalnum() or c == ".") or ".wav"
        fd, path = tempfile.mkstemp(suffix=suffix, dir=self.wb.downloads)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return self.wb.run(path, spec, adapter=adapter, word_timestamps=word_timestamps)
        except (AudioError, TranscriptionError, ValueError) as exc:
            message = str(exc).replace(path, filename or "audio").replace(os.path.basename(path), filename or "audio")
            raise APIError(400, message, param="file") from None
        except ModelNotReady as exc:
            raise APIError(503, str(exc), kind="server_error", code="model_not_ready") from None
        finally:
            self.slots.release()
            os.unlink(path)


def mount(app, wb: Workbench, api_key: str | None = None, key_required: bool = False) -> OpenAIRoutes:
    """Add the /v1 routes to the demo's FastAPI app (ahead of Gradio's own routes)."""
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    routes = OpenAIRoutes(wb, api_key, key_required)

    def reply(fn):
        try:
            body, media = fn()
        except APIError as exc:
            return JSONResponse(error_body(exc), status_code=exc.status)
        return JSONResponse(body) if media == "application/json" else PlainTextResponse(body, media_type=media)

    async def models(request: Request):
        def answer():
            routes.authorize(request.headers.get("authorization"))
            return routes.models(), "application/json"
        return reply(answer)

    def audio_route(task: str):
        async def handler(request: Request):
            try:
                routes.authorize(request.headers.get("authorization"))
                form = await request.form(max_files=1, max_fields=20)
            except APIError as exc:
                return JSONResponse(error_body(exc), status_code=exc.status)
            except Exception:  # not a multipart form
                return JSONResponse(error_body(APIError(400, "Send a multipart form with a 'file' field.")),
                                    status_code=400)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return JSONResponse(error_body(APIError(400, "The form needs a 'file' field.", param="file")),
                                    status_code=400)
            data = await upload.read(MAX_AUDIO_BYTES + 1)
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            fields["timestamp_granularities[]"] = [v for v in form.getlist("timestamp_granularities[]")
                                                   if isinstance(v, str)]
            return await run_in_threadpool(reply, lambda: routes.audio(task, data, upload.filename or "", fields))
        return handler

    def json_route(answer, media: str):
        """A handler for a JSON body: authorized, parsed, then `answer(body)` in a worker thread."""
        async def handler(request: Request):
            try:
                routes.authorize(request.headers.get("authorization"))
                body = await request.json()
            except APIError as exc:
                return JSONResponse(error_body(exc), status_code=exc.status)
            except Exception:
                return JSONResponse(error_body(APIError(400, "The body is not JSON.")), status_code=400)
            return await run_in_threadpool(reply, lambda: (answer(body), media))
        return handler

    chat = json_route(routes.chat, "application/json")
    app.add_api_route("/v1/load_lora_adapter", json_route(lambda b: routes.lora("load", b), "text/plain"),
                      methods=["POST"])
    app.add_api_route("/v1/unload_lora_adapter", json_route(lambda b: routes.lora("unload", b), "text/plain"),
                      methods=["POST"])
    app.add_api_route("/v1/models", models, methods=["GET"])
    app.add_api_route("/v1/audio/transcriptions", audio_route("asr"), methods=["POST"])
    app.add_api_route("/v1/audio/translations", audio_route("ast"), methods=["POST"])
    app.add_api_route("/v1/chat/completions", chat, methods=["POST"])
    # Gradio's app is built already: move the new routes ahead of any catch-all it has
    new = app.router.routes[-6:]
    del app.router.routes[-6:]
    app.router.routes[0:0] = new
    return routes
