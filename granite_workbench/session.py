"""The demo's shared state, outside the UI: the model service, adapters, results cache, training job, limits.

`Workbench` is what every tab works with. Its methods speak the domain (they raise `AudioError`,
`AdapterError`, `ModelNotReady`, `TranscriptionError`, ...); the UI turns those into messages in one
place (ui/common.py). Everything shared is guarded: the result cache by its own lock, adapters by the
engine's `AdapterRuntime`, the model by `ModelService`.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .adapters import BASE, AdapterError, check_adapter_name
from .audio import Audio, AudioError, load_audio
from .coerce import to_flag, to_number
from .engine import DecodingOptions, LocalEngine
from .manifest import DataError
from .paths import DATA_DIR, folder_name
from .prompts import TaskSpec
from .registry import AdapterEntry, AdapterRegistry
from .service import ModelService
from .training_job import TrainingJob, config_values
from .transcribe import Result, Transcriber
from .uploads import UploadError, extract_zip
from .writers import FORMATS, write_result

DEFAULT_MAX_AUDIO_MINUTES = 30.0
MODES = ("showcase", "workbench")
MANIFEST_SUFFIXES = (".jsonl", ".csv")
MAX_LISTED_MANIFESTS = 500
OUTPUT_MAX_AGE = 3600.0  # seconds an answer's files stay in the downloads folder
DRAFT_MAX_AGE = 24 * 3600.0  # seconds a Dataset-tab draft's clips stay after its last change (a closed tab)
MAX_TRAINING_STEPS = 100_000  # from the UI; the command line takes any number
Progress = Callable[[int, int], None]


class NotInThisMode(PermissionError):
    """An action that changes what every visitor sees; only the workbench mode has it."""


class TranscriptionError(RuntimeError):
    """The model could not produce a result for a clip (the message says why)."""


class ResultCache:
    """Recent results, keyed by (model generation, adapter, task spec, audio hash); thread-safe, bounded.

    A model switch changes the generation, and `clear()` empties the cache then: a result of an earlier model
    is never returned. Unloading an adapter drops its entries (a new adapter may take the name)."""

    def __init__(self, size: int = 64):
        self.size = size
        self._items: OrderedDict[tuple, Result] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: tuple) -> Result | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: tuple, result: Result) -> None:
        with self._lock:
            self._items[key] = result
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def drop_adapter(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[1] == name]:
                del self._items[key]


@dataclass
class Workbench:
    """The demo's state: the model service, the adapters folder, the training job and the limits."""

    service: ModelService
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_MINUTES * 60
    max_upload_bytes: int | None = None  # --max-upload-size: Gradio's uploads and the /v1 routes alike
    batch_size: int = 8
    max_new_tokens: int = 200
    downloads: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="granite-wb-")))
    cache: ResultCache = field(default_factory=ResultCache)
    registry: AdapterRegistry = field(default_factory=AdapterRegistry)
    job: TrainingJob | None = None
    mode: str = "workbench"  # showcase: visitors use the model and the preloaded adapters, change nothing
    data_roots: list[Path] = field(default_factory=list)  # folders manifests may come from, beside data/
    preload: list[tuple[str, Path]] = field(default_factory=list)  # (name, folder): loaded with every model
    model_wait: float = 120.0  # seconds a request waits for a model that is loading (a restarted Space)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Unknown mode {self.mode!r}; choose {' or '.join(MODES)}.")
        self.data_roots = [Path(r).resolve() for r in self.data_roots]
        if self.job is None:
            self.job = TrainingJob(self.registry.root)
        if self.preload:
            self.service.on_ready.append(self._preload_adapters)

    def _preload_adapters(self, engine: LocalEngine) -> str | None:
        """Load the operator's adapters onto a freshly loaded model; a bad one is reported, the rest load."""
        failed = []
        for name, folder in self.preload:
            try:
                engine.adapters.load(folder, name, source_id=name)
            except AdapterError as exc:
                failed.append(str(exc))
        loaded = engine.adapters.names()
        note = f"Adapters: {', '.join(loaded)}." if loaded else ""
        return note + (f" Not loaded: {' '.join(failed)}" if failed else "") or None

    @property
    def showcase(self) -> bool:
        return self.mode == "showcase"

    def require_workbench(self, what: str) -> None:
        """Refuse an action that changes the demo for everyone, in showcase mode (defence in depth: the UI and
        the API do not even offer it there)."""
        if self.showcase:
            raise NotInThisMode(f"{what} is not available in this demo (showcase mode).")

    # -- the model ------------------------------------------------------------------------------------
    def engine(self, wait: bool = False) -> LocalEngine:
        """The model's engine; `wait`: a request to run the model waits up to `model_wait` seconds for a model
        that is loading (views that only look, like the adapter lists, do not wait)."""
        return self.service.engine(self.model_wait if wait else 0.0)

    def load_model(self, model_id: str) -> None:
        self.require_workbench("Loading another model")
        model_id = (model_id or "").strip()
        if not model_id:
            raise ValueError("Enter a hub id, a local folder, or 'tiny'.")
        if self.service.backend == "local":
            from .loading import check_model_available

            check_model_available(model_id)  # before the working model is let go: a typo must not cost it
        self.cache.clear()
        self.service.start(model_id)

    # -- adapters -------------------------------------------------------------------------------------
    def adapter_for(self, choice: str | None) -> str | None:
        """The adapter a request asked for (None = base model); refuses names that are not loaded."""
        if not choice or choice == BASE:
            return None
        loaded = self.engine(wait=True).adapters.names()
        if choice not in loaded:
            raise AdapterError(f"Adapter {choice!r} is not loaded. Loaded: {', '.join(loaded) or 'none'}. "
                               "Load it in the Adapters tab.")
        return choice

    def loaded_adapters(self) -> list[dict[str, Any]]:
        """The loaded adapters (empty while no model is ready)."""
        try:
            return self.engine().adapters.info()
        except Exception:  # no model: nothing is loaded
            return []

    def load_adapter(self, adapter_id: str, name: str | None = None) -> tuple[str, AdapterEntry]:
        """Load an adapter of the checkpoints folder (its id there) as `name` (default: named after its path).
        The one way adapters are loaded at runtime (the Adapters tab, /v1/load_lora_adapter): the registry's
        confinement (no link or path out of the folder), a valid name not taken, one folder loaded once."""
        self.require_workbench("Loading adapters")
        entry = self.registry.resolve(adapter_id)
        engine = self.engine()
        loaded = engine.adapters.info()
        same = [a["name"] for a in loaded if Path(a["path"]).resolve() == entry.path.resolve()]
        if name is not None:
            taken = [BASE, str(self.service.model_id or ""), *(a["name"] for a in loaded)]
            check_adapter_name(name, taken)
        if same and same[0] != (name or entry.name):
            raise AdapterError(f"{entry.id!r} is loaded already, as {same[0]!r}.")
        return engine.adapters.load(entry.path, name or entry.name, source_id=entry.id), entry

    def export_adapter(self, adapter_id: str, kind: str) -> Path:
        """A zip to download: the adapter as it is (`zip`), or an export (`vllm`, `merged`, `hub`; export.py)."""
        from .export import EXPORT_KINDS, export

        self.require_workbench("Exporting adapters")
        if kind not in ("zip", *EXPORT_KINDS):
            raise AdapterError(f"Unknown export {kind!r}. Choose zip, {', '.join(EXPORT_KINDS)}.")
        entry = self.registry.resolve(adapter_id)
        work = self.output_folder()
        stem = f"{entry.name}-{kind}" if kind != "zip" else entry.name
        if kind == "zip":
            folder = entry.path
        else:
            model = self.service.model_id if kind == "merged" else None
            folder = export(entry.path, kind, work / stem, model=model, name=entry.name)
        return Path(shutil.make_archive(str(work / stem), "zip", root_dir=folder))

    def unload_adapter(self, name: str) -> None:
        self.require_workbench("Unloading adapters")
        if not name or name == BASE:
            raise AdapterError("Pick a loaded adapter to unload.")
        self.engine().adapters.unload(name)
        self.cache.drop_adapter(name)

    # -- running the model ----------------------------------------------------------------------------
    def clip(self, audio: Any) -> Audio:
        """Decode and check the clip once (a refusal names the clip's problem, not a model failure)."""
        if isinstance(audio, Audio):
            return audio
        if audio is None or (isinstance(audio, str) and not audio):
            raise AudioError("No audio: upload a file or record with the microphone first.")
        return load_audio(audio, max_seconds=self.max_audio_seconds,
                          name=Path(audio).name if isinstance(audio, (str, os.PathLike)) else None)

    def transcriber(self, decoding: str = "greedy", word_timestamps: bool = False) -> Transcriber:
        options = DecodingOptions(max_new_tokens=self.max_new_tokens, decoding=decoding or "greedy",
                                  word_timestamps=bool(word_timestamps))
        return Transcriber(engine=self.engine(wait=True), batch_size=self.batch_size, decoding=options,
                           max_audio_seconds=self.max_audio_seconds)

    def run(self, audio: Any, spec: TaskSpec, progress: Progress | None = None, adapter: str | None = None,
            decoding: str = "greedy", word_timestamps: bool = False) -> Result:
        """One clip through the model (or the cache), with `adapter` (a loaded name, BASE or None), decoded as
        `decoding` (engine.DECODING_MODES), with word times when asked."""
        clip = self.clip(audio)
        tr = self.transcriber(decoding, word_timestamps)
        adapter = self.adapter_for(adapter)
        key = (self.service.generation, adapter, spec, tr.decoding,
               hashlib.sha1(memoryview(clip.samples)).hexdigest())
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        res = tr.run([clip], spec, progress=progress, adapter=adapter)[0]
        if not res.ok:
            raise TranscriptionError(res.error or "Failed.")
        self.cache.put(key, res)
        return res

    def output_folder(self) -> Path:
        """A new folder for one answer's files (transcripts, a report, an export). Gradio serves a copy from its
        own cache (cleaned by age, ui/layout.py), so folders older than `OUTPUT_MAX_AGE` are removed here: a
        public demo's disk does not fill up with every visitor's downloads."""
        return self._scratch_folder("out-", OUTPUT_MAX_AGE)

    def draft_folder(self) -> Path:
        """A new folder for the clips of one Dataset-tab draft. The tab removes it when Gradio drops the
        session; drafts nobody changed for `DRAFT_MAX_AGE` (a session Gradio evicted) are removed here."""
        return self._scratch_folder("dataset-", DRAFT_MAX_AGE)

    def remove_draft(self, folder: Path | str) -> bool:
        """Remove a draft folder made by `draft_folder` (anything else is left alone). True if removed."""
        folder = Path(folder)
        if folder.parent != self.downloads or not folder.name.startswith("dataset-"):
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def _scratch_folder(self, prefix: str, max_age: float) -> Path:
        """A new folder `prefix*` in the downloads folder, after removing those unchanged for `max_age` s."""
        cutoff = time.time() - max_age
        for old in self.downloads.glob(prefix + "*"):
            try:
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:  # removed by another request meanwhile
                pass
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.downloads))

    def files_for(self, res: Result) -> list[str]:
        folder = self.output_folder()
        return [str(write_result(res, folder, fmt)) for fmt in FORMATS]

    # -- manifests ------------------------------------------------------------------------------------
    def manifest_roots(self) -> list[tuple[str, Path]]:
        """(label prefix, folder): the bundled data folder, then each --data-root."""
        return [("data", DATA_DIR.resolve())] + [(r.name or str(i), r) for i, r in enumerate(self.data_roots)]

    def manifest_choices(self) -> dict[str, Path]:
        """Every manifest a request may name, by the label the UI shows (`data/domain/train.jsonl`)."""
        out: dict[str, Path] = {}
        for prefix, root in self.manifest_roots():
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if (path.suffix.lower() in MANIFEST_SUFFIXES and rel.parts[0] != "examples" and path.is_file()
                        and path.resolve().is_relative_to(root)):  # a link out of the root is not listed
                    out[f"{prefix}/{rel.as_posix()}"] = path
                if len(out) >= MAX_LISTED_MANIFESTS:
                    return out
        return out

    @contextmanager
    def manifest(self, choice: str | None, upload: str | None, *, keep: bool = False
                 ) -> Iterator[tuple[Path, list[Path], str, Path | None]]:
        """The manifest a request names: (path, folders its audio may come from, label, the request's folder).

        `choice` must be one of `manifest_choices()` (matched as a label, never used as a path); an `upload`
        (a .jsonl/.csv, or a .zip with a manifest and its audio) is unpacked into a folder of the request's own,
        deleted when the request ends unless `keep` (then the caller owns it). Audio must stay in the manifest's
        folder or a data folder."""
        roots = [root for _, root in self.manifest_roots()]
        if upload:
            label = Path(upload).name
            folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.downloads))
            try:
                yield self._unpack(upload, folder, label), [folder] + roots, label, folder
            finally:
                if not keep:
                    shutil.rmtree(folder, ignore_errors=True)
            return
        if not choice:
            raise DataError("Pick a manifest or upload one.")
        path = self.manifest_choices().get(choice)
        if path is None:  # the same answer whether or not such a file exists
            raise DataError(f"{choice!r} is not one of the available manifests.")
        yield path, [path.parent] + roots, choice, None

    @staticmethod
    def _unpack(upload: str, folder: Path, label: str) -> Path:
        src = Path(upload)
        suffix = src.suffix.lower()
        if suffix == ".zip":
            extract_zip(src, folder, label)
            found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MANIFEST_SUFFIXES)
            if not found:
                raise UploadError(f"{label}: the archive holds no .jsonl or .csv manifest.")
            return found[0]
        if suffix not in MANIFEST_SUFFIXES:
            raise UploadError(f"{label}: upload a .jsonl or .csv manifest, or a .zip with a manifest and its audio.")
        target = folder / ("manifest" + suffix)
        shutil.copyfile(src, target)
        return target

    # -- training -------------------------------------------------------------------------------------
    def start_training(self, choice: str | None, upload: str | None, config: str, steps: float | None,
                       eval_choice: str | None = None, run_name: str | None = None,
                       settings: dict[str, Any] | None = None) -> Path:
        """Start a fine-tuning run on a manifest (refused when any row's audio leaves the data folders).
        `eval_choice`: a manifest scored during training (None: no evaluation); `settings`: overrides of the
        config (lr, lora_r, batch_size, train_projector, epochs — turned into max_steps here)."""
        self.require_workbench("Training")
        if steps is not None and not 1 <= steps <= MAX_TRAINING_STEPS:
            raise ValueError(f"Steps must be between 1 and {MAX_TRAINING_STEPS:,} (got {steps:g}).")
        engine = self.engine()
        if not hasattr(engine, "lm"):
            raise ValueError("Fine-tuning runs on a local model; this demo sends its audio to a server "
                             f"({self.service.server}). Start it without --backend openai to train here, or train "
                             "with `python -m finetune.train` and load the result.")
        model = engine.lm.model_id
        extra = training_settings(config, settings or {})
        name = folder_name(run_name, "Run name") if run_name and run_name.strip() else None
        with self.manifest(choice, upload, keep=True) as (path, roots, label, folder):
            try:
                rows = confined_rows(path, label, roots)
                epochs = extra.pop("epochs", None)
                if steps:
                    extra["max_steps"] = int(steps)
                elif epochs:
                    per_step = int(extra.get("batch_size") or config_values(config).get("batch_size") or 8) * \
                        int(config_values(config).get("grad_accum") or 1)
                    extra["max_steps"] = max(1, math.ceil(epochs * len(rows) / per_step))
                eval_path = None
                if eval_choice:
                    with self.manifest(eval_choice, None) as (eval_path, eval_roots, eval_label, _):
                        confined_rows(eval_path, eval_label, eval_roots)
                extra.update(evaluation_settings(config, eval_path, extra))
                return self.job.start(str(path), config, model, run_name=name or auto_run_name(label, config, self.job.checkpoints),
                                      extra=extra, owned=folder)
            except BaseException:
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                raise

    def stop_training(self) -> str:
        self.require_workbench("Stopping training")
        return self.job.stop()


def confined_rows(path: Path, label: str, roots: list[Path]):
    """The manifest's rows; refused when any row's audio leaves the manifest's folder and the data folders."""
    from .manifest import read_manifest

    rows = read_manifest(path, label=label, confine_to=roots)
    outside = [r.line for r in rows if r.error_kind == "audio outside the data folders"]
    if outside:
        raise DataError(f"{label}: the audio of line(s) {', '.join(map(str, outside[:10]))} is outside "
                        "the manifest's folder and the data folders; refused.")
    return rows


TRAINING_SETTINGS = {  # name -> (type, lowest, highest): what the Train tab may override
    "lr": (float, 1e-7, 1.0), "lora_r": (int, 1, 256), "batch_size": (int, 1, 256), "epochs": (float, 0.01, 1000),
    "train_projector": (bool, None, None)}


def training_settings(config: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Checked overrides for a run (read through coerce.py): values empty or equal to the config's are left out."""
    base = config_values(config)
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in TRAINING_SETTINGS:
            raise ValueError(f"Unknown training setting {key!r}.")
        kind, low, high = TRAINING_SETTINGS[key]
        value = to_flag(value, key) if kind is bool else to_number(value, key, low, high, integer=kind is int)
        if value is not None and base.get(key) != value:
            out[key] = value
    return out


EVAL_POINTS = 4  # evaluations of a run started from the demo whose config would evaluate only at its end


def evaluation_settings(config: str, eval_manifest: str | Path | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The evaluation part of a run started from the demo: the set chosen, or "" when none was (not the config's
    own set either), and along a short run `evaluation_steps`."""
    if not eval_manifest:
        return {"eval_manifest": ""}
    return {"eval_manifest": str(eval_manifest), **evaluation_steps(config, extra)}


def evaluation_steps(config: str, extra: dict[str, Any]) -> dict[str, int]:
    """{"eval_steps": N} when the config would evaluate once, at the end of this run (a curve of one point):
    then `EVAL_POINTS` times along the run; else nothing (the config's own schedule)."""
    values = config_values(config)
    total = extra.get("max_steps") or values.get("max_steps")
    every = int(values.get("eval_steps") or 0)
    if not isinstance(total, int) or total < EVAL_POINTS or (every and every < total):
        return {}
    return {"eval_steps": max(1, total // EVAL_POINTS)}


def auto_run_name(manifest_label: str, config: str, root: Path) -> str:
    """e.g. `phrases-cpu_smoke-1129-1502`: the training set, the config, the time (a number added when a run of
    that name exists in `root`)."""
    p = Path(manifest_label)
    data = p.parent.name if p.stem in ("train", "training", "data", "manifest") and p.parent.name else p.stem
    data = re.sub(r"[^A-Za-z0-9_-]+", "-", data).strip("-")[:24] or "data"
    name = f"{data}-{Path(config).stem}-{time.strftime('%m%d-%H%M')}"
    n = 1
    while (Path(root) / (name if n == 1 else f"{name}-{n}")).exists():
        n += 1
    return name if n == 1 else f"{name}-{n}"
