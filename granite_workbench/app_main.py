"""`python app.py [flags]`: start the demo at once and load the model in the background."""
from __future__ import annotations

import argparse
import sys

from .cli import add_model_flags, model_kwargs
from .paths import CHECKPOINTS_DIR


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="app.py", description="Granite Speech Workbench demo (Gradio).")
    add_model_flags(p)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on all interfaces")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD", help="require a login")
    p.add_argument("--max-upload-size", default="200mb", help="largest upload accepted, e.g. 200mb, 1gb")
    p.add_argument("--max-audio-minutes", type=float, default=30.0, help="longest clip the demo accepts")
    p.add_argument("--concurrency", type=int, default=1, help="requests run at once (the rest queue)")
    p.add_argument("--queue-size", type=int, default=64, help="requests waiting at most; more are refused")
    p.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR),
                   help="folder watched for fine-tuned adapters (default: the project's checkpoints/)")
    return p


def main(argv: list[str] | None = None) -> None:
    import os

    args = build_parser().parse_args(argv)
    on_space = bool(os.environ.get("SPACE_ID"))
    from .service import ModelService
    from .session import Workbench
    from .ui import build_demo
    from .ui.theme import CSS, THEME

    service = ModelService(args.model, model_kwargs(args))
    service.start()
    from .registry import AdapterRegistry

    wb = Workbench(service, max_audio_seconds=args.max_audio_minutes * 60,
                   registry=AdapterRegistry(args.checkpoints).start())
    import atexit
    import signal

    atexit.register(wb.job.shutdown)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the atexit hooks on a plain kill too
    demo = build_demo(wb)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if args.auth and len(auth) != 2:
        raise SystemExit("--auth must be USER:PASSWORD")
    demo.launch(server_name="0.0.0.0" if on_space else args.host, server_port=args.port, share=args.share,
                auth=auth, max_file_size=args.max_upload_size, theme=THEME, css=CSS, show_error=True)
