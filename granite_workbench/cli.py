"""Command line: `python -m granite_workbench transcribe|translate FILES...` (also `granite-wb`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .chunking import CHUNK_MODES, DEFAULT_MAX_SECONDS, DEFAULT_OVERLAP
from .languages import ASR_LANGUAGES, TRANSLATION_DIRECTIONS, UnsupportedLanguageError
from .loading import DEFAULT_MODEL_ID, DTYPES, QUANTIZATION_CHOICES, ModelLoadError
from .second_pass import TEXT_TASKS
from .writers import FORMATS

TEXT_TASK_NAMES = [n for n, t in TEXT_TASKS.items() if t.source == "transcript" and not t.needs]

EPILOG = """examples:
  python -m granite_workbench transcribe talk.wav --lang en --out-dir out --format srt
  python -m granite_workbench transcribe call.mp3 --keywords "Granite, LoRA, watsonx"
  python -m granite_workbench translate interview.flac --lang en --to fr
  python -m granite_workbench transcribe data/samples/*.wav --model tiny   # offline smoke test

languages: ASR in {asr}; translation {dirs}.
exit status: 0 when every clip succeeded, 1 when any clip failed, 2 on a usage or model error.
""".format(asr=", ".join(ASR_LANGUAGES), dirs=", ".join(f"{s}->{t}" for s, t in TRANSLATION_DIRECTIONS))


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype, --quantization: the same four flags for the demo and every command."""
    p.add_argument(
        "--model",
        default=None,
        help=f"hub id (`python -m granite_workbench models` lists the family), local folder, or a tiny offline "
        "miniature (tiny, tiny-ctc: meaningless text); "
        f"default $GRANITE_WB_MODEL or {DEFAULT_MODEL_ID}",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument(
        "--quantization", default="none", choices=QUANTIZATION_CHOICES, help="bitsandbytes quantization (CUDA only)"
    )


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    """--backend local|openai, --server, --api-key: run here, or on an OpenAI-compatible server (vLLM)."""
    p.add_argument(
        "--backend",
        default="local",
        choices=("local", "openai"),
        help="local: load the model in this process; openai: send the audio to an OpenAI-compatible "
        "server (vLLM, or another workbench) given by --server",
    )
    p.add_argument("--server", default=None, help="openai backend: the server's URL (http://host:8000)")
    p.add_argument("--api-key", default=None, help="openai backend: its API key")
    p.add_argument("--concurrency", type=int, default=8, help="openai backend: requests in flight at once")


def add_text_flags(p: argparse.ArgumentParser) -> None:
    """The second pass's text model (text_engine.py): local, or an OpenAI-compatible chat server."""
    from .text_engine import DEFAULT_TEXT_MODEL

    p.add_argument(
        "--text-model",
        default=None,
        help=f"the second pass's Granite text model: a hub id or folder (default {DEFAULT_TEXT_MODEL}, loaded "
        "when a second pass is first asked for; 'tiny': the offline miniature); with --text-server, the name "
        "of its served model (default: its first)",
    )
    p.add_argument(
        "--text-server",
        default=None,
        metavar="URL",
        help="send the second pass to an OpenAI-compatible chat server (vLLM, Ollama, llama.cpp's server, "
        "another workbench) instead of loading a text model here",
    )
    p.add_argument(
        "--text-server-api-key",
        default=os.environ.get("GRANITE_WB_TEXT_API_KEY"),
        metavar="KEY",
        help="the text server's API key (default $GRANITE_WB_TEXT_API_KEY)",
    )
    p.add_argument(
        "--text-max-new-tokens", type=int, default=300, help="most tokens one second-pass answer may generate"
    )
    p.add_argument(
        "--text-max-input-tokens",
        type=int,
        default=16_000,
        help="longest transcript the second pass takes, in the text model's tokens (about 80 minutes of speech)",
    )


def second_pass_from_args(args, required: bool = False):
    """The second pass the flags ask for; None when neither --text-model nor --text-server is given (and not
    `required`: `--then` needs one, the default model then)."""
    from .second_pass import SecondPass
    from .text_engine import open_text_engine

    if not (args.text_model or args.text_server or required):
        return None
    if args.text_max_new_tokens < 1 or args.text_max_input_tokens < 1:
        raise SystemExit("--text-max-new-tokens and --text-max-input-tokens must be at least 1")
    device = getattr(args, "device", "auto")
    engine = open_text_engine(args.text_model, server=args.text_server, api_key=args.text_server_api_key, device=device)
    return SecondPass(engine, args.text_max_new_tokens, args.text_max_input_tokens)


def open_engine(args, state=None):
    """(engine, describe) for the backend flags: a local model's engine, or a remote server's. With the openai
    backend, --model is the served base model's name (default: the server's first) and --adapter a model name.
    `state`: accelerate's process state; with several processes and --device auto each loads on its own device."""
    if args.backend == "openai":
        from .remote import OpenAIEngine

        if not args.server:
            raise ValueError("--backend openai needs --server URL.")
        engine = OpenAIEngine(args.server, args.api_key, model=args.model, concurrency=args.concurrency)
        return engine, engine.describe()
    from .engine import engine_for
    from .loading import load_model

    kwargs = model_kwargs(args)
    if state is not None and state.num_processes > 1 and args.device == "auto":
        kwargs["device"] = str(state.device) if state.device.type == "cuda" else state.device.type
    lm = load_model(args.model, **kwargs)
    return engine_for(lm), lm.describe()


def add_decoding_flags(p: argparse.ArgumentParser) -> None:
    """--decoding and its thresholds (see engine.DecodingOptions)."""
    from .engine import DECODING_MODES, DecodingOptions

    d = DecodingOptions()
    p.add_argument(
        "--decoding",
        default="greedy",
        choices=DECODING_MODES,
        help="greedy (default); speculative: IBM's self-speculative decoding with the encoder's CTC "
        "draft (fast, may differ from greedy); speculative-exact: the same speed-up where the "
        "draft is right, output identical to greedy. Translation always decodes greedily.",
    )
    p.add_argument(
        "--ctc-threshold",
        type=float,
        default=d.ctc_threshold,
        help="speculative: accept the CTC draft as is when its max frame entropy is at most this",
    )
    p.add_argument(
        "--confidence-threshold",
        type=float,
        default=d.confidence_threshold,
        help="speculative: accept the LLM-checked draft when every token has at least this probability",
    )


def decoding_options(args, **extra):
    from .engine import DecodingOptions

    return DecodingOptions(
        max_new_tokens=args.max_new_tokens,
        num_beams=getattr(args, "num_beams", 1),
        decoding=args.decoding,
        ctc_threshold=args.ctc_threshold,
        confidence_threshold=args.confidence_threshold,
        **extra,
    )


def model_kwargs(args) -> dict:
    """load_model keyword arguments from the flags added by `add_model_flags`."""
    return {"device": args.device, "dtype": args.dtype, "quantization": args.quantization}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="granite-wb",
        description="Granite Speech Workbench: speech recognition and translation with IBM Granite 4.0 1B Speech.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{transcribe,translate,evaluate,export,models}")
    for name, help_text in (
        ("transcribe", "speech to text in the spoken language (ASR)"),
        ("translate", "speech in one language to text in another"),
    ):
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("files", nargs="*", metavar="FILES", help="audio files (wav, flac, ogg, mp3, m4a, ...)")
        p.add_argument(
            "--manifest",
            type=Path,
            default=None,
            help="instead of FILES: a JSONL/CSV manifest (audio required; task, language, "
            "target_language, keywords per row, the flags as defaults); needs --out-dir, writes "
            "transcripts.jsonl and one file per row and format; resumable, and shardable with "
            "`accelerate launch`",
        )
        p.add_argument(
            "--lang",
            default="en" if name == "translate" else None,
            help="spoken language (ASR: checked, the model detects it itself; translate: the source, default en)",
        )
        if name == "translate":
            p.add_argument("--to", required=True, dest="target", help="target language")
        if name == "transcribe":
            p.add_argument(
                "--keywords", default=None, help="comma-separated words to bias recognition towards (names, jargon)"
            )
        add_model_flags(p)
        add_backend_flags(p)
        p.add_argument(
            "--adapter",
            default=None,
            help="a LoRA adapter folder (from finetune) to apply; with --backend openai, a model name "
            "the server serves",
        )
        p.add_argument("--out-dir", default=None, type=Path, help="write one file per clip and format here")
        p.add_argument("--format", default="txt", help=f"comma-separated: {', '.join(FORMATS)} or all")
        p.add_argument("--batch-size", type=int, default=8)
        p.add_argument("--chunking", default="vad", choices=CHUNK_MODES, help="how long audio is split (default: vad)")
        p.add_argument(
            "--chunk-seconds",
            type=float,
            default=None,
            help=f"longest chunk (default: the model's: {DEFAULT_MAX_SECONDS:g} s for the models with a language "
            "model, 120 s for the CTC model)",
        )
        p.add_argument("--overlap-seconds", type=float, default=DEFAULT_OVERLAP, help="overlap between fixed windows")
        p.add_argument("--max-new-tokens", type=int, default=200)
        p.add_argument("--num-beams", type=int, default=1)
        add_decoding_flags(p)
        p.add_argument(
            "--word-timestamps",
            action="store_true",
            help="give every word its start and end (in json; srt/vtt cues follow them): from the model's own time "
            "tags on 4.1-2b-plus, else by CTC alignment; the JSON's info says which",
        )
        if name == "transcribe":
            p.add_argument(
                "--speakers",
                action="store_true",
                help="who spoke when (4.1-2b-plus): segments per speaker turn with a `speaker` field, srt/vtt labelled",
            )
        p.add_argument(
            "--then",
            action="append",
            default=[],
            metavar="TASK|QUESTION",
            help="a second pass over each transcript by a Granite text model (repeatable): "
            + ", ".join(TEXT_TASK_NAMES)
            + ", translate:LANG, or a question in quotes; the answer is printed after the transcript, written "
            "as STEM.TASK.txt beside it with --out-dir, and into the JSON's `answers`",
        )
        add_text_flags(p)
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    e = sub.add_parser(
        "evaluate",
        help="base model vs adapters on a manifest: WER/CER, BLEU, keyword recall",
        description="Evaluate the base model and zero or more adapters on a manifest (JSONL/CSV) or "
        "a Hugging Face dataset; writes utterances.jsonl, summary.json, report.md and charts.",
    )
    e.add_argument("manifest", help="JSONL/CSV manifest, or a dataset (saved folder, audiofolder:DIR, hub id)")
    e.add_argument("--split", default="test", help="dataset split (datasets only)")
    e.add_argument("--adapter", action="append", default=[], help="adapter folder; repeat for several")
    e.add_argument("--no-base", action="store_true", help="leave the base model out")
    e.add_argument(
        "--models",
        default=None,
        metavar="ID_OR_FOLDER[@ADAPTER],...",
        help="which Granite for this data: run each model (optionally with an adapter folder) over the same rows, "
        "one in memory at a time, and report accuracy, RTFx on this machine, peak memory and size per model "
        "(instead of --model / --adapter)",
    )
    add_model_flags(e)
    add_backend_flags(e)
    e.add_argument("--out-dir", required=True, type=Path, help="where the report goes")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--max-new-tokens", type=int, default=200)
    e.add_argument("--limit", type=int, default=0, help="evaluate only the first N rows")
    add_decoding_flags(e)
    e.add_argument("--quiet", action="store_true")
    x = sub.add_parser(
        "export",
        help="an adapter for serving: vLLM LoRA folder, merged checkpoint, Hub folder",
        description="Export an adapter (a step-* folder from finetune): --to vllm (LoRA renamed for "
        "vLLM's GraniteSpeech, with serve.sh), merged (base + adapter in one checkpoint), hub (the "
        "adapter with a model card).",
    )
    x.add_argument("adapter", type=Path, help="the adapter folder")
    x.add_argument("--to", required=True, dest="kind", choices=("vllm", "merged", "hub"))
    x.add_argument("--out", required=True, type=Path, help="a new folder for the export")
    x.add_argument("--model", default=None, help="merged: the base to merge into (default: the adapter's base)")
    x.add_argument("--name", default=None, help="vllm: the model name the adapter is served as")
    m = sub.add_parser("models", help="the Granite Speech family: what each model does (the model table)")
    m.add_argument("--json", action="store_true", help="one JSON object per model")
    return parser


def models_main(args) -> int:
    """Print the model table (models.py)."""
    import json

    from .models import table_rows

    rows = table_rows()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    for row in rows:
        print(row["model"])
        for key, value in row.items():
            if key != "model" and value:
                print(f"  {key:<12} {value}")
    return 0


def command_spec(args):
    """The task the command asks for: translation, speaker-attributed ASR (--speakers), or ASR (with keywords)."""
    from .prompts import TaskSpec

    if args.command == "translate":
        return TaskSpec("ast", language=args.lang, target=args.target, keywords=())
    if getattr(args, "speakers", False):
        if args.keywords or args.word_timestamps:
            raise ValueError(
                "--speakers goes alone: the model card gives one prompt per mode (speakers, word times, keywords)."
            )
        return TaskSpec("asr_speakers", language=args.lang)
    return TaskSpec("asr", language=args.lang, keywords=args.keywords or ())


def precheck(args, spec) -> None:
    """Refuse a task the chosen model cannot do before it is loaded, when the model table knows the model (the
    loaded model's own capabilities are checked again after loading)."""
    from .models import UnsupportedTaskError, require_task, short_name, spec_for

    if getattr(args, "backend", "local") != "local":
        return
    try:
        known = spec_for(args.model or DEFAULT_MODEL_ID)
    except ValueError:  # a folder or another id: its config decides, after loading
        return
    require_task(known, spec.task, short_name(args.model or known.id))
    if args.decoding not in known.decoding:
        raise UnsupportedTaskError(f"{short_name(args.model or known.id)} decodes {' or '.join(known.decoding)} only.")


def export_main(args) -> int:
    from .adapters import AdapterError
    from .export import export

    try:
        out = export(args.adapter, args.kind, args.out, model=args.model, name=args.name)
    except (AdapterError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {args.adapter} as {args.kind} to {out}", file=sys.stderr)
    if args.kind == "vllm":
        print(f"serve it on a GPU machine: bash {out / 'serve.sh'}", file=sys.stderr)
    if args.kind == "hub":
        print(
            f"upload (creates the repository if needed): hf auth login && hf upload you/{out.name} {out} .",
            file=sys.stderr,
        )
    return 0


def run_identity(args, command: str, rows) -> dict:
    """What a manifest run's results depend on (a resumed run must match it): rows, model, adapters, options."""
    from dataclasses import asdict

    from .batch import row_signature

    return {
        "command": command,
        "rows": row_signature(rows),
        "model": args.model,
        "dtype": args.dtype,
        "quantization": args.quantization,
        "backend": args.backend,
        "server": args.server,
        "adapter": args.adapter,
        "decoding": asdict(decoding_options(args)),
        "chunking": [getattr(args, k, None) for k in ("chunking", "chunk_seconds", "overlap_seconds")],
        "word_timestamps": getattr(args, "word_timestamps", False),
        "no_base": getattr(args, "no_base", False),
    }


def compare_main(args) -> int:
    """`evaluate --models`: several models over the same rows (comparison.py)."""
    from .adapters import AdapterError
    from .comparison import compare_models, parse_models, write_comparison
    from .manifest import DataError, read_rows, validate
    from .sharding import process_state

    try:
        if args.adapter or args.backend != "local":
            raise ValueError("--models names each model and its adapter (MODEL@ADAPTER); drop --adapter/--backend.")
        if process_state().num_processes > 1:
            raise ValueError("--models runs in one process (each model's speed is measured alone); drop accelerate.")
        choices = parse_models(args.models)
        rows = read_rows(args.manifest, args.split)
        rows = rows[: args.limit] if args.limit else rows
        good, report = validate(rows, None, source=str(args.manifest), max_audio_seconds=3 * 3600, max_label_tokens=0)
        result, costs = compare_models(
            choices,
            good,
            lambda model: load_model_for(args, model),
            progress=None
            if args.quiet
            else lambda k, n, name: k < n and print(f"[{k + 1}/{n}] {name}", file=sys.stderr),
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            decoding=decoding_options(args),
        )
    except (ModelLoadError, AdapterError, DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths = write_comparison(result, costs, args.out_dir, f"Which Granite for {Path(str(args.manifest)).name}?")
    if report.problems:
        print(report.summary(), file=sys.stderr)
    print_scores(result, [c.system for c in costs])
    for c in costs:
        print(f"  {c.system}: RTFx {c.rtfx:.1f}, peak {c.peak_memory_bytes / 2**30:.2f} GiB", file=sys.stderr)
    print(f"report: {paths['report']}", file=sys.stderr)
    failed = sum(result.summary["all"][c.system]["failed"] for c in costs) + len(report.problems)
    return 1 if failed else 0


def load_model_for(args, model: str):
    from .loading import load_model

    return load_model(model, **model_kwargs(args))


def print_scores(result, systems) -> None:
    from .metrics import METRIC_LABELS, format_metric

    overall = result.summary["all"]
    for s in systems:
        shown = ", ".join(
            f"{METRIC_LABELS.get(k, k)} {format_metric(k, v)}"
            for k, v in overall[s].items()
            if k not in ("utterances", "failed")
        )
        print(f"{s}: {shown}", file=sys.stderr)


def evaluate_main(args) -> int:
    if args.models:
        return compare_main(args)
    from .adapters import BASE, AdapterError
    from .batch import evaluate_rows
    from .engine import describe_paths
    from .evaluation import write_report
    from .manifest import DataError, read_rows
    from .remote import RemoteError
    from .sharding import ResumeError, process_state

    state = process_state()
    try:
        rows = read_rows(args.manifest, args.split)
        engine, described = open_engine(args, state)
        systems = [] if args.no_base else [BASE]
        for folder in args.adapter:
            systems.append(engine.load_adapter(folder))
        if not systems:
            raise ValueError("Nothing to evaluate: give --adapter or drop --no-base.")
    except (ModelLoadError, AdapterError, DataError, ValueError, RemoteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = rows[: args.limit] if args.limit else rows
    if state.is_main_process:
        print(
            f"model: {described}; systems: {', '.join(systems)}; {len(rows)} rows"
            + (f" over {state.num_processes} processes" if state.num_processes > 1 else ""),
            file=sys.stderr,
        )
    tokenizer = engine.tokenizer
    title = f"Evaluation of {Path(str(args.manifest)).name}"
    written: dict = {}

    def write(result, report):
        written.update(paths=write_report(result, args.out_dir, title=title), result=result, report=report)

    try:
        evaluate_rows(
            engine,
            rows,
            systems,
            args.out_dir,
            what=run_identity(args, "evaluate", rows),
            source=str(args.manifest),
            write=write,
            batch_size=args.batch_size,
            decoding=decoding_options(args),
            tokenizer=tokenizer,
            state=state,
            quiet=args.quiet,
        )
    except ResumeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not written:  # not the main process: it reports
        return 0
    result, report = written["result"], written["report"]
    if report.problems:
        print(report.summary(), file=sys.stderr)
    overall = result.summary["all"]
    print_scores(result, systems)
    for s in systems:
        if args.decoding != "greedy":
            print(f"  decoding {args.decoding}: {describe_paths(result.decoding[s])}", file=sys.stderr)
    print(f"report: {written['paths']['report']}", file=sys.stderr)
    failed = sum(overall[s]["failed"] for s in systems) + len(report.problems)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "evaluate":
        return evaluate_main(args)
    if args.command == "export":
        return export_main(args)
    if args.command == "models":
        return models_main(args)
    formats = list(FORMATS) if args.format == "all" else [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        print(f"error: unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)} or all", file=sys.stderr)
        return 2
    if bool(args.files) == bool(args.manifest):
        print("error: give audio FILES or --manifest M.jsonl (one of the two)", file=sys.stderr)
        return 2
    if args.then and args.manifest:
        print("error: --then works on audio FILES, not on --manifest", file=sys.stderr)
        return 2
    if args.manifest and not args.out_dir:
        print("error: --manifest needs --out-dir (where transcripts.jsonl and the per-row files go)", file=sys.stderr)
        return 2

    try:
        spec = command_spec(args)
        options = decoding_options(args, word_timestamps=args.word_timestamps)
        precheck(args, spec)
    except (UnsupportedLanguageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from dataclasses import replace

    from .adapters import AdapterError
    from .manifest import DataError
    from .models import check_capable, timed_by_the_model
    from .remote import RemoteError
    from .sharding import ResumeError, process_state
    from .transcribe import Transcriber

    state = process_state() if args.manifest else None
    try:
        rows = manifest_rows(args, spec) if args.manifest else None
        engine, described = open_engine(args, state)
        spec, timed = timed_by_the_model(engine.capabilities, spec, options.word_timestamps)
        options = replace(options, word_timestamps=timed)
        check_capable(engine, spec, args.decoding, options.word_timestamps)
        adapter = engine.load_adapter(args.adapter) if args.adapter else None
    except (ModelLoadError, AdapterError, RemoteError, DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tr = Transcriber(
        engine,
        batch_size=args.batch_size,
        chunking=args.chunking,
        max_chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        decoding=options,
    )
    if state is None or state.is_main_process:
        print(
            f"model: {described}"
            + (f"; {len(rows[0])} rows" if rows is not None else "")
            + (f" over {state.num_processes} processes" if state and state.num_processes > 1 else ""),
            file=sys.stderr,
        )
    if rows is None:
        return transcribe_files(args, tr, spec, adapter, formats)
    from .batch import transcribe_rows

    try:
        results = transcribe_rows(
            tr,
            rows[0],
            rows[1],
            args.out_dir,
            what=run_identity(args, args.command, rows[0]),
            write=lambda res: write_outputs(args, res, formats, rows[0]),
            adapter=adapter,
            state=state,
            quiet=args.quiet,
        )
    except ResumeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if results is None else summarize(args, results)


def manifest_rows(args, spec):
    """(rows, a TaskSpec or the reason it cannot be run per row) of --manifest; the command's flags are the
    defaults for rows that leave task, language, target or keywords out."""
    from .manifest import read_manifest

    rows = read_manifest(args.manifest, default_task=spec.task, default_language=args.lang or "en", require_text=False)
    specs = []
    for r in rows:
        if r.target_language is None and spec.target:
            r.target_language = spec.target
        try:
            specs.append(r.error or r.spec(r.keywords or spec.keywords or None))
        except (UnsupportedLanguageError, ValueError, KeyError) as exc:
            specs.append(str(exc) if not isinstance(exc, KeyError) else f"unknown task {r.task!r}")
    return rows, specs


def transcribe_files(args, tr, spec, adapter, formats) -> int:
    from tqdm import tqdm

    from .writers import render

    bar = tqdm(total=0, unit="chunk", desc=args.command, disable=args.quiet, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    results = tr.run(args.files, spec, progress=progress, adapter=adapter)
    bar.close()
    if args.then:
        second_pass_answers(args, results)
    if args.out_dir:
        write_outputs(args, results, formats, None)
    else:
        for res in results:
            if res.ok:
                sys.stdout.write(
                    f"== {res.name}\n" + render(res, formats[0]) if len(results) > 1 else render(res, formats[0])
                )
                for a in res.answers:
                    sys.stdout.write(f"-- {a.get('question') or a['task']} ({a['model']}):\n{a['text']}\n")
    return summarize(args, results)


def then_requests(values: list[str]) -> list[tuple[str, str | None, str | None]]:
    """`--then` values as (task, question, language): a task name, translate:LANG, or a question."""
    from .second_pass import task_for

    out = []
    for value in values:
        name, _, lang = value.partition(":")
        if name == "translate" and lang:
            out.append(("translate", None, lang))
        else:
            task, question = task_for(value)
            out.append((task, question, None))
    return out


def second_pass_answers(args, results) -> None:
    """Every --then over every transcript, in order; an answer that fails is reported on that clip."""
    from .second_pass import Answer
    from .text_engine import TextModelError

    second = second_pass_from_args(args, required=True)
    requests = then_requests(args.then)
    for res in results:
        if not res.ok:
            continue
        for task, question, language in requests:
            try:
                answer = second.ask(res, task, question, language)
            except (TextModelError, ValueError) as exc:
                answer = Answer(task, "", second.engine.name, question, language, notes=[f"failed: {exc}"])
                print(f"FAILED second pass {task} on {res.name}: {exc}", file=sys.stderr)
            res.answers.append(answer.to_dict())


def answer_names(answers: list[dict]) -> list[str]:
    """File names for a clip's answers: the task (translate-LANG; answer for a question), numbered when repeated."""
    names = [
        "answer" if a["task"] == "question" else a["task"] + (f"-{a['language']}" if a.get("language") else "")
        for a in answers
    ]
    return [n if names.count(n) == 1 else f"{n}-{names[:i].count(n) + 1}" for i, n in enumerate(names)]


def write_outputs(args, results, formats, rows) -> None:
    """One file per clip and format in --out-dir; for a manifest also transcripts.jsonl (a line per row, in
    order, failures included)."""
    import json

    from .writers import atomic_write_text, output_stems, write_result

    sources = args.files if rows is None else [r.audio if isinstance(r.audio, str) else f"line{r.line}" for r in rows]
    stems, note = output_stems(sources)
    if note:
        print(f"note: {note}", file=sys.stderr)
    for res, stem in zip(results, stems):
        if res.ok:
            for fmt in formats:
                write_result(res, args.out_dir, fmt, stem)
            for name, a in zip(answer_names(res.answers), res.answers):
                atomic_write_text(Path(args.out_dir) / f"{stem}.{name}.txt", a["text"] + "\n")
    if rows is not None:
        lines = [
            json.dumps({"line": r.line, "audio": r.ref, **res.to_dict()}, ensure_ascii=False) + "\n"
            for r, res in zip(rows, results)
        ]
        atomic_write_text(Path(args.out_dir) / "transcripts.jsonl", "".join(lines))


def summarize(args, results) -> int:
    """Failures and the summary line on stderr; the exit status."""
    from collections import Counter

    from .engine import add_paths, describe_paths

    failed = 0
    for res in results:
        if not res.ok:
            failed += 1
            print(f"FAILED {res.error}", file=sys.stderr)
    audio_s = sum(r.duration for r in results if r.ok)
    print(
        f"summary: {len(results) - failed}/{len(results)} clips ok, {failed} failed, {audio_s:.1f} s of audio"
        + (f", files in {args.out_dir}" if args.out_dir else ""),
        file=sys.stderr,
    )
    if args.decoding != "greedy":
        paths: dict[str, int] = {}
        for r in results:
            add_paths(paths, r.decoding)
        print(f"decoding {args.decoding}: {describe_paths(paths)}", file=sys.stderr)
    detected = Counter(r.detected_language for r in results if r.ok and r.detected_language)
    if detected:
        print(
            "detected language (from the transcripts): "
            + ", ".join(f"{code} {n} clip{'s' * (n != 1)}" for code, n in detected.most_common()),
            file=sys.stderr,
        )
    for remark in dict.fromkeys(x for r in results for x in r.info):
        print(f"note: {remark}", file=sys.stderr)
    return 1 if failed else 0
