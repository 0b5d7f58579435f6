"""The demo's files: scratch folders (one answer's downloads, Dataset-tab drafts, uploads), aged out so a public
demo's disk does not fill up, and the manifests a request may name (listed from the data folders, matched as
labels, never used as paths) or upload."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..manifest import DataError
from ..paths import DATA_DIR
from ..transcribe import Result
from ..uploads import UploadError, extract_zip
from ..writers import FORMATS, write_result

MANIFEST_SUFFIXES = (".jsonl", ".csv")
MAX_LISTED_MANIFESTS = 500
OUTPUT_MAX_AGE = 3600.0  # seconds an answer's files stay in the downloads folder
DRAFT_MAX_AGE = 24 * 3600.0  # seconds a Dataset-tab draft's clips stay after its last change (a closed tab)


class DataFiles:
    """`downloads`: the scratch folder (answers' files, drafts, uploads); `data_roots`: folders manifests may come
    from, beside the bundled data folder."""

    def __init__(self, downloads: Path, data_roots: list[Path] | None = None):
        self.downloads = Path(downloads)
        self.data_roots = [Path(r).resolve() for r in data_roots or []]

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
                if (
                    path.suffix.lower() in MANIFEST_SUFFIXES
                    and rel.parts[0] != "examples"
                    and path.is_file()
                    and path.resolve().is_relative_to(root)
                ):  # a link out of the root is not listed
                    out[f"{prefix}/{rel.as_posix()}"] = path
                if len(out) >= MAX_LISTED_MANIFESTS:
                    return out
        return out

    @contextmanager
    def manifest(
        self, choice: str | None, upload: str | None, *, keep: bool = False
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


def confined_rows(path: Path, label: str, roots: list[Path]):
    """The manifest's rows; refused when any row's audio leaves the manifest's folder and the data folders."""
    from ..manifest import read_manifest

    rows = read_manifest(path, label=label, confine_to=roots)
    outside = [r.line for r in rows if r.error_kind == "audio outside the data folders"]
    if outside:
        raise DataError(
            f"{label}: the audio of line(s) {', '.join(map(str, outside[:10]))} is outside "
            "the manifest's folder and the data folders; refused."
        )
    return rows
