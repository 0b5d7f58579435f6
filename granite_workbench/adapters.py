"""The adapter format and live adapters on a loaded model (peft multi-adapter).

An adapter is a folder written by `finetune` (one place defines it, here):
    adapter_config.json         peft's LoRA config
    adapter_model.safetensors   the weights (pickle files are never loaded)
    workbench.json              metadata: base model, architecture, tasks, languages, step, metrics, time
A folder is complete only when all three exist; `finetune` writes them to a temporary folder
and renames it, so a reader never sees half a checkpoint.

`AdapterRuntime` loads, switches and unloads adapters on the live model. peft's active adapter
is state of the whole model, so `use(name)` holds a lock for the whole generation: a request
always runs with the adapter it asked for.
"""

from __future__ import annotations

import gc
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .loading import unwrap_peft

BASE = "base"  # the name that stands for "no adapter" (selectors, evaluation systems, API)
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
METADATA_FILE = "workbench.json"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
PICKLE_FILES = ("adapter_model.bin", "pytorch_model.bin")
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


class AdapterError(ValueError):
    """An adapter that cannot be used, with the reason."""


def is_complete(folder: str | Path) -> bool:
    folder = Path(folder)
    return folder.is_dir() and all((folder / f).is_file() for f in REQUIRED_FILES)


def read_metadata(folder: str | Path, label: str | None = None) -> dict[str, Any]:
    try:
        meta = json.loads((Path(folder) / METADATA_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise AdapterError(
            f"{label or Path(folder).name}: unreadable {METADATA_FILE} ({type(exc).__name__})."
        ) from None
    if not isinstance(meta, dict):
        raise AdapterError(f"{label or Path(folder).name}: {METADATA_FILE} is not a JSON object.")
    return meta


def model_signature(model) -> dict[str, Any]:
    """What an adapter must match: architecture and the shape of what it adapts (the language model's; for a
    CTC-only model, the encoder's and its vocabulary)."""
    cfg = unwrap_peft(model).config
    part = getattr(cfg, "text_config", None) or cfg.encoder_config
    vocab = getattr(part, "vocab_size", None) or cfg.vocab_size
    return {
        "architecture": type(unwrap_peft(model)).__name__,
        "hidden_size": part.hidden_size,
        "num_hidden_layers": part.num_hidden_layers,
        "vocab_size": vocab,
    }


MAX_LORA_RANK = 256  # vLLM serves ranks up to 256 with --max-lora-rank; larger is not a LoRA any more
MAX_ADAPTER_BYTES = 4 * 2**30
MAX_HEADER_BYTES = 100 * 2**20
PROJECTOR, CTC_HEAD, ENCODER = "projector", "model.encoder.out", "model.encoder"
# modules an adapter may carry whole (peft's `modules_to_save`), each checked against the model's own shapes: on a
# model with a language model the projector, and for CTC training the encoder's CTC head or the whole encoder;
# on the CTC-only model its encoder and output head (the ctc_full recipe)
TRAINABLE_FULL_MODULES = (PROJECTOR, CTC_HEAD, ENCODER)
CTC_MODEL_PARTS = ("encoder", "ctc_head")


def whole_modules_allowed(model) -> tuple[str, ...]:
    return CTC_MODEL_PARTS if hasattr(unwrap_peft(model), "ctc_head") else TRAINABLE_FULL_MODULES


def check_adapter(folder: str | Path, model=None, label: str | None = None) -> dict[str, Any]:
    """Validate an adapter folder before anything is allocated: complete, safetensors only, a sane LoRA config
    (rank, targets that exist in this model, only the projector saved whole), a weights file whose header
    matches the config and the model's layer shapes, and the same base shape. Returns its metadata.

    Messages name the adapter (`label`, default the folder's name), never a server path."""
    folder = Path(folder)
    label = label or folder.name
    if not folder.is_dir():
        raise AdapterError(f"{label}: no such adapter.")
    pickles = [f for f in PICKLE_FILES if (folder / f).exists()]
    if pickles and not (folder / WEIGHTS_FILE).exists():
        raise AdapterError(
            f"{label}: only pickle weights ({', '.join(pickles)}); only safetensors adapters are loaded."
        )
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise AdapterError(f"{label}: incomplete adapter, missing {', '.join(missing)}.")
    meta = read_metadata(folder, label)
    if model is not None:
        want = model_signature(model)
        have = meta.get("signature") or {}
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        if diff:
            detail = "; ".join(f"{k}: adapter {a!r}, model {b!r}" for k, (a, b) in diff.items())
            raise AdapterError(
                f"{label}: trained for a different base model ({meta.get('base_model', 'unknown')}): {detail}."
            )
        check_lora_files(folder, unwrap_peft(model), label)
    return meta


def _lora_config(folder: Path, label: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    try:
        cfg = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise AdapterError(f"{label}: unreadable {CONFIG_FILE} ({type(exc).__name__}).") from None
    if not isinstance(cfg, dict) or cfg.get("peft_type") != "LORA":
        raise AdapterError(
            f"{label}: not a LoRA adapter ({CONFIG_FILE} has peft_type "
            f"{cfg.get('peft_type') if isinstance(cfg, dict) else None!r})."
        )
    r = cfg.get("r")
    if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= MAX_LORA_RANK:
        raise AdapterError(f"{label}: LoRA rank {r!r} is out of range (1 to {MAX_LORA_RANK}).")
    ranks = cfg.get("rank_pattern") or {}
    if not isinstance(ranks, dict) or any(
        not isinstance(v, int) or not 1 <= v <= MAX_LORA_RANK for v in ranks.values()
    ):
        raise AdapterError(f"{label}: a rank in rank_pattern is out of range (1 to {MAX_LORA_RANK}).")
    saved = cfg.get("modules_to_save") or []
    if not isinstance(saved, list) or not set(saved) <= set(allowed):
        raise AdapterError(f"{label}: modules_to_save {saved!r} is not allowed (only {', '.join(allowed)}).")
    return cfg


def _safetensors_header(path: Path, label: str) -> dict[str, Any]:
    size = path.stat().st_size
    if size > MAX_ADAPTER_BYTES:
        raise AdapterError(
            f"{label}: weights of {size / 2**30:.1f} GiB; at most {MAX_ADAPTER_BYTES / 2**30:.0f} GiB are loaded."
        )
    with path.open("rb") as fh:
        raw = fh.read(8)
        n = int.from_bytes(raw, "little") if len(raw) == 8 else -1
        if not 0 < n <= min(MAX_HEADER_BYTES, size - 8):
            raise AdapterError(f"{label}: {WEIGHTS_FILE} is not a safetensors file.")
        try:
            header = json.loads(fh.read(n))
        except ValueError:
            raise AdapterError(f"{label}: {WEIGHTS_FILE} has an unreadable header.") from None
    header.pop("__metadata__", None)
    end = max((t.get("data_offsets", [0, 0])[1] for t in header.values() if isinstance(t, dict)), default=0)
    if not isinstance(header, dict) or 8 + n + end != size:
        raise AdapterError(f"{label}: {WEIGHTS_FILE} is truncated or inconsistent with its header.")
    return header


def _base_layers(model) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """The model's layers and parameter (and buffer) shapes under their base names, also once adapters are loaded (peft
    wraps layers as `X.base_layer` and saved modules as `X.original_module` / `X.modules_to_save.NAME`)."""
    skip = (".lora_", ".modules_to_save.", ".base_layer", "lora_dropout", "lora_embedding", "lora_magnitude")
    modules = {n: getattr(m, "base_layer", m) for n, m in model.named_modules() if not any(k in n for k in skip)}
    # a module saved whole brings its buffers; a tied weight is listed under each of its names (the CTC head)
    tensors = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    params = {
        n.replace(".original_module", "").replace(".base_layer", ""): tuple(p.shape)
        for n, p in tensors
        if ".lora_" not in n and ".modules_to_save." not in n
    }
    return modules, params


def check_lora_files(folder: Path, model, label: str) -> None:
    """The config and the weights' header against the live model, reading no tensor data."""
    import torch

    allowed = whole_modules_allowed(model)
    cfg = _lora_config(folder, label, allowed)
    header = _safetensors_header(folder / WEIGHTS_FILE, label)
    modules, params = _base_layers(model)
    ranks = cfg.get("rank_pattern") or {}
    lora = whole_tensors = 0
    for key, info in header.items():
        shape = info.get("shape") if isinstance(info, dict) else None
        path = key.removeprefix("base_model.model.")
        if ".lora_A." not in key and ".lora_B." not in key:  # a module saved whole: the projector's own shapes
            whole = any(path.startswith(f"model.{m}.") or path.startswith(f"{m}.") for m in allowed)
            if not whole or params.get(path) != tuple(shape or ()):
                raise AdapterError(f"{label}: unexpected tensor {path!r} in the weights.")
            whole_tensors += 1
            continue
        lora += 1
        layer = path.split(".lora_")[0]
        module = modules.get(layer)
        if not isinstance(module, torch.nn.Linear) or not isinstance(shape, list) or len(shape) != 2:
            raise AdapterError(f"{label}: the weights name a layer this model does not have ({layer}).")
        r = next((v for k, v in ranks.items() if layer.endswith(k)), cfg["r"])
        want = [r, module.in_features] if ".lora_A." in key else [module.out_features, r]
        if shape != want:
            raise AdapterError(f"{label}: {layer} has shape {shape} in the weights, expected {want} for rank {r}.")
    if not lora and not (whole_tensors and cfg.get("modules_to_save")):
        raise AdapterError(f"{label}: the weights hold no LoRA tensors.")


def safe_name(text: str) -> str:
    """A name for the live model made of letters, digits, '-' and '_' (`run/step-000060` -> `run-step-000060`)."""
    return _NAME.sub("-", text).strip("-")


MAX_NAME = 64
# the name of a checkpoint of a run the demo named itself: {dataset}-{config}-{MMDD-HHMM}-step-{N}
_GENERATED = re.compile(r"^(?P<data>.+)-(?P<config>[A-Za-z0-9_]+)-(?P<md>\d{4})-(?P<hm>\d{4})-step-(?P<step>\d+)$")


def display_name(name: str) -> str:
    """An adapter's name as a person reads it in a list: a run the demo named itself becomes its dataset, when it
    started and the step (`ux-demo-cpu_smoke-1202-0801-step-000030` -> `ux-demo · 12-02 08:01 · step 30`); any
    other name stays as it is. Requests still use the name."""
    m = _GENERATED.match(name)
    if not m:
        return name
    md, hm = m["md"], m["hm"]
    return f"{m['data']} · {md[:2]}-{md[2:]} {hm[:2]}:{hm[2:]} · step {int(m['step'])}"


def check_adapter_name(name: str, reserved: list[str]) -> str:
    """A name a client chose for an adapter on the live model: letters, digits, '-' and '_', at most `MAX_NAME`,
    none of `reserved` (the base model's names, the adapters loaded already)."""
    if not isinstance(name, str) or not name:
        raise AdapterError("Give the adapter a name.")
    if len(name) > MAX_NAME or safe_name(name) != name:
        raise AdapterError(
            f"An adapter name is 1-{MAX_NAME} letters, digits, '-' or '_' (got "
            f"{name[:40]!r}{'…' if len(name) > 40 else ''})."
        )
    if name in reserved:
        raise AdapterError(f"The name {name!r} is taken; choose another.")
    return name


def adapter_name(folder: str | Path) -> str:
    """The default name of an adapter folder on the live model: its last two path parts (`run-step-000300`)."""
    folder = Path(folder)
    return safe_name(f"{folder.parent.name}-{folder.name}" if folder.parent.name else folder.name)


class AdapterRuntime:
    """Adapters loaded on one live model. Thread-safe; generation runs under `use(name)`.

    Everything done to adapters goes through these methods, under one lock; `use` holds it for the whole
    generation, because peft's active adapter is state of the whole model."""

    def __init__(self, lm):
        self.lm = lm
        self.lock = threading.RLock()
        self._loaded: dict[str, dict[str, Any]] = {}  # name -> metadata, path and registry id

    def names(self) -> list[str]:
        with self.lock:
            return list(self._loaded)

    def info(self) -> list[dict[str, Any]]:
        """One dict per loaded adapter: name, id (registry), path, step, base_model, metrics."""
        with self.lock:
            return [{"name": n, **m} for n, m in self._loaded.items()]

    def load(self, folder: str | Path, name: str | None = None, source_id: str | None = None) -> str:
        """Load (or find already loaded) the adapter in `folder` under `name`; refuses a name that another
        folder already holds."""
        from peft import PeftModel

        folder = Path(folder)
        label = source_id or folder.name
        meta = check_adapter(folder, self.lm.model, label)
        name = name or adapter_name(folder)
        with self.lock:
            if name in self._loaded:
                if Path(self._loaded[name]["path"]).resolve() == folder.resolve():
                    return name
                raise AdapterError(
                    f"The name {name!r} is taken by another loaded adapter "
                    f"({self._loaded[name].get('id') or Path(self._loaded[name]['path']).name}); "
                    "unload it first."
                )
            try:
                if isinstance(self.lm.model, PeftModel):
                    self.lm.model.load_adapter(str(folder), adapter_name=name)
                else:
                    self.lm.model = PeftModel.from_pretrained(self.lm.model, str(folder), adapter_name=name)
            except Exception as exc:  # peft's messages can hold whole module trees: keep the first line
                if isinstance(self.lm.model, PeftModel) and name in self.lm.model.peft_config:
                    self.lm.model.delete_adapter(name)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise AdapterError(f"{label}: could not be loaded ({first}).") from None
            self.lm.model.eval()
            self._loaded[name] = {**meta, "path": str(folder), "id": source_id or folder.name}
        return name

    def unload(self, name: str) -> None:
        with self.lock:
            if name not in self._loaded:
                raise AdapterError(f"Adapter {name!r} is not loaded.")
            model = self.lm.model
            del self._loaded[name]
            if self._loaded:
                if model.active_adapter == name:
                    model.set_adapter(next(iter(self._loaded)))
                model.delete_adapter(name)
            else:  # last one: take the peft wrapper off entirely
                _restore_modules_to_save(model)
                self.lm.model = model.unload()
            gc.collect()
            _empty_cache()

    @contextmanager
    def use(self, name: str | None) -> Iterator[None]:
        """Run the body with adapter `name` active (None: the bare base model)."""
        with self.lock:
            if name is None:
                if self._loaded:
                    with self.lm.model.disable_adapter():
                        yield
                else:
                    yield
                return
            if name not in self._loaded:
                raise AdapterError(f"Adapter {name!r} is not loaded. Loaded: {', '.join(self._loaded) or 'none'}.")
            self.lm.model.set_adapter(name)
            yield


def _restore_modules_to_save(peft_model) -> None:
    """Put the original modules back where peft wrapped them for `modules_to_save` (e.g. the projector).

    peft's `unload()` would otherwise leave the active adapter's trained copy in the base model.
    """
    from peft.utils import ModulesToSaveWrapper

    base = peft_model.get_base_model()
    for name, module in list(base.named_modules()):
        if isinstance(module, ModulesToSaveWrapper):
            parent_name, _, child = name.rpartition(".")
            setattr(base.get_submodule(parent_name) if parent_name else base, child, module.original_module)


def _empty_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
