"""The checkpoints folder and the adapters loaded on the model: list, load, unload, export."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..adapters import BASE, AdapterError, check_adapter_name, display_name
from ..engine import Engine
from ..registry import AdapterEntry, AdapterRegistry
from .base import Mode
from .files import DataFiles
from .inference import Inference


class Adapters:
    """Adapters of the checkpoints folder (`registry`) and those loaded on the model (through its engine).
    `preload`: (name, folder) pairs loaded onto every model as it becomes ready (the operator's --adapter)."""

    def __init__(
        self,
        inference: Inference,
        registry: AdapterRegistry,
        files: DataFiles,
        mode: Mode,
        preload: list[tuple[str, Path]] | None = None,
    ):
        self.inference = inference
        self.registry = registry
        self.files = files
        self.mode = mode
        self.preload = list(preload or [])
        if self.preload:
            inference.service.on_ready.append(self._preload)

    def _preload(self, engine: Engine) -> str | None:
        """Load the operator's adapters onto a freshly loaded model; a bad one is reported, the rest load."""
        failed = []
        for name, folder in self.preload:
            try:
                engine.load_adapter(folder, name, source_id=name)
            except AdapterError as exc:
                failed.append(str(exc))
        loaded = engine.adapter_names()
        note = f"Adapters: {', '.join(map(display_name, loaded))}." if loaded else ""
        return note + (f" Not loaded: {' '.join(failed)}" if failed else "") or None

    @property
    def root(self) -> Path:
        return self.registry.root

    def entries(self) -> list[AdapterEntry]:
        """The adapters of the checkpoints folder."""
        return self.registry.entries()

    def loaded(self) -> list[dict[str, Any]]:
        """The loaded adapters (empty while no model is ready)."""
        try:
            return self.inference.engine().adapter_info()
        except Exception:  # no model: nothing is loaded
            return []

    def load(self, adapter_id: str, name: str | None = None) -> tuple[str, AdapterEntry]:
        """Load an adapter of the checkpoints folder (its id there) as `name` (default: named after its path).
        The one way adapters are loaded at runtime (the Adapters tab, /v1/load_lora_adapter): the registry's
        confinement (no link or path out of the folder), a valid name not taken, one folder loaded once."""
        self.mode.require_workbench("Loading adapters")
        entry = self.registry.resolve(adapter_id)
        engine = self.inference.engine()
        loaded = engine.adapter_info()
        same = [a["name"] for a in loaded if a.get("path") and Path(a["path"]).resolve() == entry.path.resolve()]
        if name is not None:
            taken = [BASE, str(self.inference.model_id or ""), *(a["name"] for a in loaded)]
            check_adapter_name(name, taken)
        if same and same[0] != (name or entry.name):
            raise AdapterError(f"{entry.id!r} is loaded already, as {same[0]!r}.")
        return engine.load_adapter(entry.path, name or entry.name, source_id=entry.id), entry

    def unload(self, name: str) -> None:
        self.mode.require_workbench("Unloading adapters")
        if not name or name == BASE:
            raise AdapterError("Pick a loaded adapter to unload.")
        self.inference.engine().unload_adapter(name)
        self.inference.cache.drop_adapter(name)

    def export(self, adapter_id: str, kind: str) -> Path:
        """A zip to download: the adapter as it is (`zip`), or an export (`vllm`, `merged`, `hub`; export.py)."""
        from ..export import EXPORT_KINDS, export

        self.mode.require_workbench("Exporting adapters")
        if kind not in ("zip", *EXPORT_KINDS):
            raise AdapterError(f"Unknown export {kind!r}. Choose zip, {', '.join(EXPORT_KINDS)}.")
        entry = self.registry.resolve(adapter_id)
        work = self.files.output_folder()
        stem = f"{entry.name}-{kind}" if kind != "zip" else entry.name
        if kind == "zip":
            folder = entry.path
        else:
            model = self.inference.model_id if kind == "merged" else None
            folder = export(entry.path, kind, work / stem, model=model, name=entry.name)
        return Path(shutil.make_archive(str(work / stem), "zip", root_dir=folder))
