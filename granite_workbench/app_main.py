"""`python app.py [flags]`: start the demo at once and load the model in the background.

Two modes, one app:
- `showcase` (the default on a Hugging Face Space, where `SPACE_ID` is set): visitors transcribe, translate,
  bias keywords and compare the base model with the adapters the operator preloaded (`--adapters`); nothing
  that changes the demo for everyone (model, adapters, training, evaluation on the server) exists in the UI
  or the API.
- `workbench` (the default elsewhere): the full workbench. Bound to anything but loopback it needs `--auth`
  (or `--insecure-no-auth`, which says why that is dangerous).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .cli import add_model_flags, add_text_flags, model_kwargs, second_pass_from_args
from .paths import CHECKPOINTS_DIR

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="app.py", description="Granite Speech Workbench demo (Gradio).")
    add_model_flags(p)
    p.add_argument(
        "--mode",
        choices=("showcase", "workbench"),
        default=None,
        help="showcase: a public demo that visitors cannot change; workbench: everything (default: "
        "showcase on a Hugging Face Space, workbench elsewhere)",
    )
    p.add_argument(
        "--adapters",
        default=None,
        metavar="NAME=PATH,...|FOLDER",
        help="adapters loaded with the model and offered in every tab: NAME=PATH pairs, or a folder "
        "whose complete adapters are all loaded (named after their path in it)",
    )
    p.add_argument(
        "--data-root",
        action="append",
        default=[],
        metavar="FOLDER",
        help="a folder whose manifests the Train and Evaluate tabs may use, besides data/ (repeatable)",
    )
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on all interfaces")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD", help="require a login")
    p.add_argument(
        "--api-key",
        default=os.environ.get("GRANITE_WB_API_KEY"),
        metavar="KEY",
        help="required as 'Authorization: Bearer KEY' by the OpenAI-compatible /v1 routes (default "
        "$GRANITE_WB_API_KEY; with --auth, the /v1 routes answer only when this is set)",
    )
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow the workbench mode on a public address without a login (dangerous)",
    )
    p.add_argument("--max-upload-size", default="200mb", help="largest upload accepted, e.g. 200mb, 1gb")
    p.add_argument("--max-audio-minutes", type=float, default=30.0, help="longest clip the demo accepts")
    p.add_argument(
        "--max-new-tokens",
        type=int,
        default=200,
        help="most tokens one answer (one chunk of audio) may generate: bounds the work of a request",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests that use the model at once, all endpoints together (the rest queue)",
    )
    p.add_argument("--queue-size", type=int, default=64, help="requests waiting at most; more are refused")
    p.add_argument(
        "--backend",
        default="local",
        choices=("local", "openai"),
        help="local: load the model here; openai: send the audio to an OpenAI-compatible server (vLLM or "
        "another workbench) at --server; --model then names its served model (default: its first)",
    )
    p.add_argument("--server", default=None, help="openai backend: the server's URL (http://gpu-box:8000)")
    p.add_argument(
        "--server-api-key",
        default=os.environ.get("GRANITE_WB_SERVER_API_KEY"),
        metavar="KEY",
        help="openai backend: the server's API key (default $GRANITE_WB_SERVER_API_KEY)",
    )
    add_text_flags(p)
    p.add_argument(
        "--checkpoints",
        default=str(CHECKPOINTS_DIR),
        help="folder watched for fine-tuned adapters (default: the project's checkpoints/)",
    )
    return p


def preload_list(value: str | None) -> list[tuple[str, Path]]:
    """`--adapters`: NAME=PATH pairs, or one folder (every complete adapter in it)."""
    from .adapters import safe_name
    from .registry import AdapterRegistry

    if not value:
        return []
    if "=" not in value:
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise SystemExit(f"--adapters: {value} is not a folder (give NAME=PATH pairs or a folder).")
        return [(e.name, e.path) for e in sorted(AdapterRegistry(folder).scan(), key=lambda e: e.id)]
    out = []
    for item in value.split(","):
        name, _, path = item.partition("=")
        if not name.strip() or not path.strip() or safe_name(name.strip()) != name.strip():
            raise SystemExit(f"--adapters: {item!r} is not NAME=PATH (names: letters, digits, '-' and '_').")
        out.append((name.strip(), Path(path.strip()).expanduser().resolve()))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise SystemExit("--adapters: two adapters share a name.")
    return out


def check_exposure(mode: str, host: str, share: bool, auth: str | None, insecure: bool) -> str | None:
    """Refuse the workbench mode on a public address without a login; returns a warning to print, if any."""
    public = share or host not in LOOPBACK
    if mode != "workbench" or not public or auth:
        return None
    if not insecure:
        raise SystemExit(
            "The workbench mode lets anyone who reaches it load models and adapters, start training and read "
            "the data folders. It would listen on a public address "
            f"({'a gradio.live link' if share else host}). Add --auth USER:PASSWORD, use --mode showcase, "
            "or pass --insecure-no-auth if this network is yours alone."
        )
    return (
        "WARNING: workbench mode on a public address without a login (--insecure-no-auth): anyone who "
        "reaches it can change the model and adapters, start training and read the data folders."
    )


def workbench_from_args(args: argparse.Namespace, mode: str):
    """The demo's state from its flags: the model service (not started), the adapters folder, the limits."""
    from .registry import AdapterRegistry
    from .service import ModelService
    from .session import Workbench

    if args.backend == "openai" and not args.server:
        raise SystemExit("--backend openai needs --server URL")
    if args.max_new_tokens < 1:
        raise SystemExit("--max-new-tokens must be at least 1")
    preload = preload_list(args.adapters)
    service = ModelService(
        args.model,
        model_kwargs(args),
        backend=args.backend,
        server=args.server,
        server_api_key=args.server_api_key,
        announce=lambda line: print(line, file=sys.stderr, flush=True),
    )
    from .coerce import to_size

    try:
        max_upload = to_size(args.max_upload_size, "--max-upload-size")
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return Workbench(
        service,
        max_audio_seconds=args.max_audio_minutes * 60,
        max_upload_bytes=max_upload,
        registry=AdapterRegistry(args.checkpoints),
        mode=mode,
        max_new_tokens=args.max_new_tokens,
        data_roots=[Path(r).expanduser() for r in args.data_root],
        preload=preload,
        second_pass=second_pass_from_args(args),
    )


def main(argv: list[str] | None = None) -> None:
    """`$GRANITE_WB_ARGS` (a Space cannot pass flags) comes first; the command line's flags override it."""
    import shlex

    argv = shlex.split(os.environ.get("GRANITE_WB_ARGS", "")) + (sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    on_space = bool(os.environ.get("SPACE_ID"))
    mode = args.mode or ("showcase" if on_space else "workbench")
    host = "0.0.0.0" if on_space else args.host
    warning = check_exposure(mode, host, args.share, args.auth, args.insecure_no_auth)
    if warning:
        print(warning, file=sys.stderr)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if args.auth and len(auth) != 2:
        raise SystemExit("--auth must be USER:PASSWORD")
    wb = workbench_from_args(args, mode)
    if mode == "workbench":
        wb.registry.start()
    # Gradio keeps every upload in its folder (read when gradio is imported): inside the demo's scratch folder,
    # it goes when the demo stops, like the answers' files
    os.environ.setdefault("GRADIO_TEMP_DIR", str(wb.files.downloads / "gradio"))
    import atexit
    import shutil
    import signal

    from .ui import build_demo
    from .ui.theme import CSS, HEAD, THEME

    atexit.register(wb.training.job.shutdown)
    atexit.register(shutil.rmtree, wb.files.downloads, ignore_errors=True)  # answers' files, uploads, Dataset drafts
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the atexit hooks on a plain kill too
    demo = build_demo(wb)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    demo.launch(
        server_name=host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        prevent_thread_lock=True,
        max_file_size=args.max_upload_size,
        theme=THEME,
        css=CSS,
        head=HEAD,
        show_error=True,
    )
    from .openai_api import mount

    mount(
        demo.app,
        wb,
        api_key=args.api_key,
        key_required=auth is not None,  # /v1: OpenAI clients
        running=args.concurrency,
        waiting=args.queue_size,
    )
    # The model loads once the UI answers, not alongside building it: both are mostly Python imports that hold
    # the interpreter lock, so together they do not finish sooner and the UI comes later (measured on AMD and
    # Intel, BENCHMARKS.md "Demo cold start"). A request that comes in meanwhile waits for the model. The
    # Workbench exists already, so its adapters load with the model.
    wb.inference.service.start()
    demo.block_thread()
