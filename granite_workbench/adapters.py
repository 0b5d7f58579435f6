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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

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


def read_metadata(folder: str | Path) -> dict[str, Any]:
    try:
        return json.loads((Path(folder) / METADATA_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise AdapterError(f"{folder}: unreadable {METADATA_FILE} ({exc}).") from exc


def model_signature(model) -> dict[str, Any]:
    """What an adapter must match: architecture and the language model's shape."""
    cfg = unwrap_peft(model).config
    text = cfg.text_config
    return {"architecture": type(unwrap_peft(model)).__name__, "hidden_size": text.hidden_size,
            "num_hidden_layers": text.num_hidden_layers, "vocab_size": text.vocab_size}


def check_adapter(folder: str | Path, model=None) -> dict[str, Any]:
    """Validate an adapter folder (complete, safetensors only, same base shape); return its metadata."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such adapter folder.")
    pickles = [f for f in PICKLE_FILES if (folder / f).exists()]
    if pickles and not (folder / WEIGHTS_FILE).exists():
        raise AdapterError(f"{folder}: only pickle weights ({', '.join(pickles)}); only safetensors adapters are "
                           "loaded.")
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise AdapterError(f"{folder}: incomplete adapter, missing {', '.join(missing)}.")
    meta = read_metadata(folder)
    if model is not None:
        want = model_signature(model)
        have = meta.get("signature") or {}
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        if diff:
            detail = "; ".join(f"{k}: adapter {a!r}, model {b!r}" for k, (a, b) in diff.items())
            raise AdapterError(f"{folder.name}: trained for a different base model "
                               f"({meta.get('base_model', 'unknown')}): {detail}.")
    return meta


def adapter_name(folder: str | Path) -> str:
    """The default name of an adapter folder on the live model: its last two path parts (`run-step-000300`)."""
    folder = Path(folder)
    return _NAME.sub("-", f"{folder.parent.name}-{folder.name}" if folder.parent.name else folder.name).strip("-")


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
        meta = check_adapter(folder, self.lm.model)
        name = name or adapter_name(folder)
        with self.lock:
            if name in self._loaded:
                if Path(self._loaded[name]["path"]).resolve() == folder.resolve():
                    return name
                raise AdapterError(f"The name {name!r} is taken by another loaded adapter "
                                   f"({self._loaded[name].get('id') or Path(self._loaded[name]['path']).name}); "
                                   "unload it first.")
            if isinstance(self.lm.model, PeftModel):
                self.lm.model.load_adapter(str(folder), adapter_name=name)
            else:
                self.lm.model = PeftModel.from_pretrained(self.lm.model, str(folder), adapter_name=name)
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
