"""The adapter registry: every complete adapter under a checkpoints folder, kept fresh by polling.

Entries are identified by their path relative to the root (`cpu-smoke/step-000300`); only those ids can
be loaded, so no request can reach a folder outside the root. Half-written checkpoints (hidden `.tmp-*`
folders, or folders missing a file) are never listed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import METADATA_FILE, AdapterError, is_complete, read_metadata, safe_name
from .metrics import METRIC_LABELS, format_metric
from .paths import CHECKPOINTS_DIR

MAX_DEPTH = 3


@dataclass
class AdapterEntry:
    id: str  # path relative to the registry root, with '/'
    path: Path
    meta: dict[str, Any]
    mtime: float

    @property
    def name(self) -> str:
        """The name the adapter gets on the live model: its whole path under the root (`run/step-000060` ->
        `run-step-000060`, `y/run/step-000060` -> `y-run-step-000060`), so two folders never share one."""
        return safe_name(self.id)

    def row(self) -> list[Any]:
        m = self.meta
        metrics = m.get("metrics") or {}
        shown = ", ".join(
            f"{METRIC_LABELS.get(k, k)} {format_metric(k, v)}"
            for k, v in metrics.items()
            if k in ("wer", "cer", "bleu", "keyword_recall") and isinstance(v, (int, float))
        )
        return [
            self.id,
            m.get("base_model", "?"),
            ", ".join(m.get("tasks", [])),
            ", ".join(m.get("languages", [])),
            m.get("step", ""),
            shown or "—",
            m.get("created", ""),
        ]


ROW_HEADERS = ["checkpoint", "base model", "tasks", "languages", "step", "metrics", "created"]


@dataclass
class AdapterRegistry:
    root: Path = CHECKPOINTS_DIR
    poll_seconds: float = 2.0
    _entries: dict[str, AdapterEntry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    def scan(self) -> list[AdapterEntry]:
        found: dict[str, AdapterEntry] = {}
        if self.root.is_dir():
            for folder in self._walk(self.root, 0):
                try:
                    meta = read_metadata(folder)
                except AdapterError:
                    continue
                rel = folder.relative_to(self.root).as_posix()
                found[rel] = AdapterEntry(rel, folder, meta, (folder / METADATA_FILE).stat().st_mtime)
        with self._lock:
            self._entries = found
        return self.entries()

    def _walk(self, folder: Path, depth: int):
        try:
            # a link could list a folder outside the checkpoints folder: only real folders are adapters
            children = sorted(
                p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
            )
        except OSError:
            return
        for child in children:
            if is_complete(child):
                yield child
            elif depth + 1 < MAX_DEPTH:
                yield from self._walk(child, depth + 1)

    def entries(self) -> list[AdapterEntry]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: (e.mtime, e.id), reverse=True)

    def resolve(self, adapter_id: str) -> AdapterEntry:
        """The entry for an id; refuses anything that is not a listed adapter inside the root."""
        adapter_id = (adapter_id or "").strip()
        if not adapter_id:
            raise AdapterError("Pick an adapter from the list first.")
        root = self.root.resolve()
        candidate = (root / adapter_id).resolve()
        if not candidate.is_relative_to(root) or candidate == root:
            raise AdapterError(f"{adapter_id!r} is not an adapter in the checkpoints folder.")
        key = candidate.relative_to(root).as_posix()
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            self.scan()
            with self._lock:
                entry = self._entries.get(key)
        if entry is None:
            raise AdapterError(f"No complete adapter {adapter_id!r} in the checkpoints folder.")
        clash = [e.id for e in self.entries() if e.name == entry.name and e.id != entry.id]
        if clash:
            raise AdapterError(
                f"{entry.id!r} and {clash[0]!r} would both be named {entry.name!r}; rename one of the folders."
            )
        return entry

    def start(self) -> AdapterRegistry:
        """Poll the folder in the background (new checkpoints appear within `poll_seconds`)."""
        self.scan()
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.scan()
            except Exception:  # a folder vanishing mid-scan: try again next time
                time.sleep(self.poll_seconds)

    def stop(self) -> None:
        self._stop.set()
