"""OpenAI-compatible routes on the demo's own server, so that any OpenAI client reaches the model and its adapters.

    GET  /v1/models                    the base model and every loaded adapter (an adapter is a model name)
    POST /v1/audio/transcriptions      OpenAI's multipart form: file, model, language, prompt (keywords, comma-
                                       separated), response_format json|text|srt|vtt|verbose_json,
                                       timestamp_granularities[]=word (words in verbose_json)
    POST /v1/audio/translations        the same form; into English (OpenAI's contract), or `target_language`
    POST /v1/chat/completions          a user message with one `input_audio` part and the prompt table's
                                       instruction as its text part (what vLLM's GraniteSpeech serving takes);
                                       messages of text only go to the second pass's text model (--text-model
                                       / --text-server), `stream` allowed
    POST /v1/load_lora_adapter         vLLM's runtime loading: {lora_name, lora_path}, a path the Adapters tab
    POST /v1/unload_lora_adapter       lists (workbench mode); {lora_name}

Requests run through the same Workbench as the UI (its limits on upload size, audio length and tokens, its
locks). Admission comes before anything else: at most `running` requests work at once and `waiting` more wait
(the demo's --concurrency and --queue-size); one more is answered 429 at once, before its body is read. Uploads
are streamed to disk with the size limit (--max-upload-size) checked while reading, so a body over it never
lands whole; a waiting request holds its upload on disk, not in memory. The model work runs in the routes' own
threads, never in the server's shared worker pool, so a burst here does not slow the page or Gradio's uploads.
Errors come back in OpenAI's shape:
`{"error": {"message", "type", "param", "code"}}`. In showcase mode these routes only read (no adapter
loading); when the demo runs with `--auth`, they need `--api-key` (sent as `Authorization: Bearer KEY`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.requests import Request  # a real name, not a string annotation: FastAPI injects the request

from .adapters import BASE, AdapterError
from .audio import AudioError
from .coerce import to_text
from .languages import UnsupportedLanguageError
from .prompts import TaskSpec, parse_instruction
from .service import ModelNotReady
from .session import TranscriptionError, Workbench
from .text_engine import TextModelError
from .writers import to_srt, to_vtt

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
RUNNING, WAITING = 1, 32  # defaults: requests working at once (they share the model's lock), and waiting
WAIT_SECONDS = 600.0
DEFAULT_MAX_UPLOAD = 200 * 2**20
FORM_OVERHEAD = 64 * 2**10  # the multipart form's other fields and boundaries, beside the file
CHUNK = 2**20


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def has_audio(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "input_audio" for p in content)


def text_messages(messages: list[dict]) -> list[dict]:
    """The messages as the text model's chat template takes them: system, user or assistant turns of text (a
    list of text parts is joined). Tool calls and tool turns are refused: a question is only ever a prompt."""
    out = []
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "user", "assistant") or m.get("tool_calls"):
            raise APIError(400, f"Only system, user and assistant turns of text are taken, not {role!r}.", "messages")
        if isinstance(content, list):
            if not all(
                isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content
            ):
                raise APIError(400, "A message's parts must be text parts (or one input_audio part).", "messages")
            content = "\n".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise APIError(400, "A message's content must be text.", param="messages")
        out.append({"role": role, "content": content})
    return out


def text_chat(second, body: dict, messages: list[dict]) -> tuple[Any, str]:
    """A text-only chat completion on the second pass's text model, within its limits (answer and input tokens);
    `stream`: server-sent events, one per piece the model wrote (sent when the answer is complete)."""
    if second is None:
        raise APIError(
            400,
            "This server has no text model for text-only chat (start it with --text-model or --text-server); "
            "send a user message with one input_audio part for the speech model.",
            param="messages",
        )
    if body.get("tools") or body.get("functions"):
        raise APIError(400, "Tools are not supported: the text model only answers.", param="tools")
    limit = second.max_new_tokens or 300
    asked = body.get("max_completion_tokens") or body.get("max_tokens") or limit
    if not isinstance(asked, int) or asked < 1:
        raise APIError(400, "max_tokens must be a positive integer.", param="max_tokens")
    engine = second.engine
    try:
        size = sum(engine.count_tokens(m["content"]) for m in messages)
        if second.max_input_tokens and size > second.max_input_tokens:
            raise APIError(400, f"The messages are longer than this server takes ({second.max_input_tokens:,} tokens).")
        pieces = list(engine.stream(messages, min(asked, limit)))
    except TextModelError as exc:
        raise APIError(502, str(exc), kind="server_error") from None
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": engine.name}
    if not body.get("stream"):
        message = {"role": "assistant", "content": "".join(pieces)}
        choice = {"index": 0, "finish_reason": "stop", "message": message}
        return {**base, "object": "chat.completion", "choices": [choice]}, "application/json"
    deltas = [({"content": p}, None) for p in pieces] + [({}, "stop")]
    events = [
        {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": f}]}
        for d, f in deltas
    ]
    lines = [f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events]
    return "".join(lines) + "data: [DONE]\n\n", "text/event-stream"


def error_body(exc: APIError) -> dict:
    return {"error": {"message": exc.message, "type": exc.kind, "param": exc.param, "code": exc.code}}


class OpenAIRoutes:
    """The route handlers, free of the web framework (tested directly and mounted by `mount`)."""

    def __init__(
        self,
        wb: Workbench,
        api_key: str | None = None,
        key_required: bool = False,
        running: int = RUNNING,
        waiting: int = WAITING,
    ):
        self.wb = wb
        self.api_key = api_key
        self.key_required = key_required or bool(api_key)
        self.max_upload = wb.limits.max_upload_bytes or DEFAULT_MAX_UPLOAD
        self.running, self.limit = max(1, running), max(1, running) + max(0, waiting)
        self.admitted = 0  # requests working or waiting
        self._admit_lock = threading.Lock()
        self._slots: asyncio.Semaphore | None = None
        self.executor = ThreadPoolExecutor(self.running, thread_name_prefix="v1")

    # -- admission -----------------------------------------------------------------------------------------
    @asynccontextmanager
    async def admission(self):
        """Hold one of `limit` places (working or waiting) for the whole request; 429 at once when none is free."""
        with self._admit_lock:
            full = self.admitted >= self.limit
            self.admitted += not full
        if full:
            raise APIError(
                429,
                "The server is busy (the queue is full); try again shortly.",
                kind="rate_limit_error",
                code="rate_limit_exceeded",
            )
        try:
            yield
        finally:
            with self._admit_lock:
                self.admitted -= 1

    async def work(self, fn):
        """Run `fn` in the routes' own threads once one of `running` slots is free (waiting without a thread)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.running)
        try:
            await asyncio.wait_for(self._slots.acquire(), WAIT_SECONDS)
        except asyncio.TimeoutError:
            raise APIError(
                429, "The server is busy; try again shortly.", kind="rate_limit_error", code="rate_limit_exceeded"
            ) from None
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn)
        finally:
            self._slots.release()

    async def receive_audio(self, request: Request) -> tuple[Path, str, dict[str, Any]]:
        """The multipart form's file, streamed to a file of the demo's scratch folder with the size limit checked
        while reading (and against Content-Length before reading), and its other fields."""
        from starlette.formparsers import MultiPartException, MultiPartParser

        body = self.bounded_body(request, self.max_upload + FORM_OVERHEAD)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise APIError(400, "Send a multipart form with a 'file' field.")
        try:
            form = await MultiPartParser(request.headers, body, max_files=1, max_fields=20).parse()
        except MultiPartException as exc:
            raise APIError(400, f"The form could not be read: {exc.message}") from None
        try:
            return await self._keep_upload(form)
        finally:
            await form.close()

    async def read_json(self, request: Request) -> Any:
        """The JSON body, read with the upload limit (base64 audio is a third larger than the audio)."""
        import json

        body = bytearray()
        async for chunk in self.bounded_body(request, self.max_upload * 4 // 3 + FORM_OVERHEAD):
            body += chunk
        try:
            return json.loads(body)
        except ValueError:
            raise APIError(400, "The body is not JSON.") from None

    def bounded_body(self, request: Request, limit: int):
        """The request body's chunks; 413 before reading when Content-Length says more than `limit` bytes, and as
        soon as a body without one (chunked) passes it."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise self.too_large()

        async def chunks():
            seen = 0
            async for chunk in request.stream():
                seen += len(chunk)
                if seen > limit:
                    raise self.too_large()
                yield chunk

        return chunks()

    async def _keep_upload(self, form) -> tuple[Path, str, dict[str, Any]]:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise APIError(400, "The form needs a 'file' field.", param="file")
        suffix = (
            "".join(
                c for c in os.path.splitext(os.path.basename(upload.filename or ""))[1][:10] if c.isalnum() or c == "."
            )
            or ".wav"
        )
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.wb.files.downloads)
        size = 0
        with os.fdopen(fd, "wb") as f:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                f.write(chunk)
        if size > self.max_upload:
            os.unlink(name)
            raise self.too_large()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        fields["timestamp_granularities[]"] = [
            v for v in form.getlist("timestamp_granularities[]") if isinstance(v, str)
        ]
        return Path(name), upload.filename or "", fields

    def too_large(self) -> APIError:
        return APIError(
            413, f"The upload is larger than this demo's limit ({self.max_upload / 2**20:g} MB).", param="file"
        )

    # -- checks --------------------------------------------------------------------------------------------
    def authorize(self, header: str | None) -> None:
        if not self.key_required:
            return
        if not self.api_key:
            raise APIError(
                401,
                "This server runs with --auth: start it with --api-key to use the OpenAI routes.",
                code="invalid_api_key",
                kind="authentication_error",
            )
        if header != f"Bearer {self.api_key}":
            raise APIError(401, "Incorrect API key provided.", code="invalid_api_key", kind="authentication_error")

    def base_name(self) -> str:
        return self.wb.inference.model_id or BASE

    def ready(self) -> bool:
        return self.wb.inference.ready

    def adapter_for(self, model: str | None) -> str | None:
        """The adapter a model name stands for (None: the base model)."""
        if not model or model in (BASE, self.base_name()):
            return None
        try:
            return self.wb.inference.adapter_for(model)
        except AdapterError:
            shown = model if len(str(model)) <= 80 else f"{str(model)[:80]}…"
            raise APIError(
                404,
                f"The model {shown!r} does not exist. Models: {', '.join(self.model_ids())}.",
                param="model",
                code="model_not_found",
            ) from None

    def model_ids(self) -> list[str]:
        return [self.base_name(), *self.wb.inference.engine().adapter_names()] if self.ready() else [self.base_name()]

    # -- handlers ------------------------------------------------------------------------------------------
    def models(self) -> dict:
        now = int(time.time())
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": now, "owned_by": "granite-workbench"} for m in self.model_ids()
            ],
        }

    def audio(self, task: str, path: Path, filename: str, form: dict[str, Any]) -> tuple[Any, str]:
        """(body, media type) for /v1/audio/transcriptions (task 'asr') and /v1/audio/translations ('ast')."""
        fmt = form.get("response_format") or "json"
        if fmt not in RESPONSE_FORMATS:
            raise APIError(
                400,
                f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, not {fmt!r}.",
                param="response_format",
            )
        language = form.get("language") or None
        keywords = form.get("prompt") or ()
        words = "word" in (form.get("timestamp_granularities[]") or form.get("timestamp_granularities") or [])
        try:
            if task == "asr":
                spec = TaskSpec("asr", language=language, keywords=keywords)
            else:
                spec = TaskSpec("ast", language=language, target=form.get("target_language") or "en")
        except UnsupportedLanguageError as exc:
            raise APIError(400, str(exc), param="language") from None
        except ValueError as exc:  # keywords (the `prompt` field) or the target language
            raise APIError(400, str(exc), param="prompt" if keywords else "target_language") from None
        res = self.run(path, filename, spec, form.get("model"), word_timestamps=words)
        if fmt == "text":
            return res.text + "\n", "text/plain"
        if fmt == "srt":
            return to_srt(res), "text/plain"
        if fmt == "vtt":
            return to_vtt(res), "text/vtt"
        if fmt == "json":
            return {"text": res.text}, "application/json"
        body = {
            "task": "transcribe" if task == "asr" else "translate",
            "language": res.language or language,
            "duration": round(res.duration, 3),
            "text": res.text,
            "segments": [
                {"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text} for i, s in enumerate(res.segments)
            ],
        }
        if words:
            body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in res.words]
        return body, "application/json"

    def chat(self, body: dict) -> tuple[Any, str]:
        """(body, media type): with audio, the speech model; with text only, the second pass's text model."""
        if not isinstance(body, dict):
            raise APIError(400, "The body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise APIError(400, "messages must be a non-empty list of objects.", param="messages")
        if not any(has_audio(m) for m in messages):
            return text_chat(self.wb.second_pass, body, text_messages(messages))
        if body.get("stream"):
            raise APIError(400, "Streaming is not supported with audio; send stream=false.", param="stream")
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
        if len(data) > self.max_upload:
            raise self.too_large()
        filename = f"audio.{audio[0].get('format') or 'wav'}"
        fd, name = tempfile.mkstemp(suffix=".audio", dir=self.wb.files.downloads)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            res = self.run(Path(name), filename, spec, body.get("model"))
        finally:
            os.unlink(name)
        model = body.get("model") or self.base_name()
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": res.text}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }, "application/json"

    def lora(self, action: str, body: Any) -> str:
        """vLLM's runtime adapter routes: /v1/load_lora_adapter {lora_name, lora_path} loads an adapter of the
        checkpoints folder (lora_path: its folder, absolute or relative to that folder) as model `lora_name`,
        through exactly the Adapters tab's checks (Workbench.load_adapter); /v1/unload_lora_adapter {lora_name}.
        Workbench mode only."""
        if self.wb.showcase:
            raise APIError(
                403, "Adapters cannot be loaded or unloaded in this demo (showcase mode).", kind="permission_error"
            )
        if not isinstance(body, dict):
            raise APIError(400, "The body must be a JSON object.")
        try:
            name = to_text(body.get("lora_name"), "lora_name", max_chars=1000)
            path = to_text(body.get("lora_path"), "lora_path", max_chars=4096)
        except ValueError as exc:
            raise APIError(400, str(exc), param="lora_name" if "name" in str(exc) else "lora_path") from None
        if not name:
            raise APIError(400, "lora_name is required.", param="lora_name")
        if not self.ready():
            raise APIError(
                503, "The model is still loading; try again in a moment.", kind="server_error", code="model_not_ready"
            )
        try:
            if action == "unload":
                self.wb.adapters.unload(name)
                return f"Success: LoRA adapter '{name}' removed successfully."
            self.wb.adapters.load(self.adapter_id(path), name)
        except AdapterError as exc:
            raise APIError(400, str(exc), param="lora_name" if "name" in str(exc) else "lora_path") from None
        return f"Success: LoRA adapter '{name}' added successfully."

    def adapter_id(self, path: str | None) -> str:
        """The checkpoints-folder id of `lora_path`, read as written (links are the registry's to refuse)."""
        if not path:
            raise APIError(400, "lora_path is required.", param="lora_path")
        root = self.wb.adapters.root
        full = Path(os.path.normpath(Path(path) if os.path.isabs(path) else root / path))
        if not full.is_relative_to(root) or full == root:
            raise APIError(
                404,
                "lora_path is not an adapter in this workbench's checkpoints folder.",
                param="lora_path",
                code="lora_not_found",
            )
        return full.relative_to(root).as_posix()

    def run(self, path: Path, filename: str, spec: TaskSpec, model: str | None, word_timestamps: bool = False):
        """One clip (a file of the scratch folder) through the Workbench; errors name `filename`, never `path`."""
        if path.stat().st_size == 0:
            raise APIError(400, "The audio is empty.", param="file")
        if not self.ready():
            raise APIError(
                503, "The model is still loading; try again in a moment.", kind="server_error", code="model_not_ready"
            )
        adapter = self.adapter_for(model)
        try:
            return self.wb.inference.run(str(path), spec, adapter=adapter, word_timestamps=word_timestamps)
        except (AudioError, TranscriptionError, ValueError) as exc:
            message = str(exc).replace(str(path), filename or "audio").replace(path.name, filename or "audio")
            raise APIError(400, message, param="file") from None
        except ModelNotReady as exc:
            raise APIError(503, str(exc), kind="server_error", code="model_not_ready") from None


def mount(
    app,
    wb: Workbench,
    api_key: str | None = None,
    key_required: bool = False,
    running: int = RUNNING,
    waiting: int = WAITING,
) -> OpenAIRoutes:
    """Add the /v1 routes to the demo's FastAPI app (ahead of Gradio's own routes)."""
    from fastapi.responses import JSONResponse, PlainTextResponse

    routes = OpenAIRoutes(wb, api_key, key_required, running=running, waiting=waiting)

    def reply(body: Any, media: str):
        return JSONResponse(body) if media == "application/json" else PlainTextResponse(body, media_type=media)

    def guarded(answer):
        """A handler: authorized, admitted (429 when full), then `answer(request)`; APIError -> OpenAI's shape."""

        async def handler(request: Request):
            try:
                routes.authorize(request.headers.get("authorization"))
                async with routes.admission():
                    return reply(*await answer(request))
            except APIError as exc:
                return JSONResponse(error_body(exc), status_code=exc.status)

        return handler

    async def models(request: Request):
        return routes.models(), "application/json"

    def audio_route(task: str):
        async def answer(request: Request):
            path, filename, fields = await routes.receive_audio(request)
            try:
                return await routes.work(lambda: routes.audio(task, path, filename, fields))
            finally:
                path.unlink(missing_ok=True)

        return answer

    def json_route(fn, media: str):
        async def answer(request: Request):
            body = await routes.read_json(request)
            return await routes.work(lambda: (fn(body), media))

        return answer

    app.add_api_route(
        "/v1/load_lora_adapter", guarded(json_route(lambda b: routes.lora("load", b), "text/plain")), methods=["POST"]
    )
    app.add_api_route(
        "/v1/unload_lora_adapter",
        guarded(json_route(lambda b: routes.lora("unload", b), "text/plain")),
        methods=["POST"],
    )
    app.add_api_route("/v1/models", guarded(models), methods=["GET"])
    app.add_api_route("/v1/audio/transcriptions", guarded(audio_route("asr")), methods=["POST"])
    app.add_api_route("/v1/audio/translations", guarded(audio_route("ast")), methods=["POST"])

    async def chat(request: Request):
        body = await routes.read_json(request)
        return await routes.work(lambda: routes.chat(body))

    app.add_api_route("/v1/chat/completions", guarded(chat), methods=["POST"])
    # Gradio's app is built already: move the new routes ahead of any catch-all it has
    new = app.router.routes[-6:]
    del app.router.routes[-6:]
    app.router.routes[0:0] = new
    return routes
