"""Files that visitors upload: archives checked entry by entry before anything is written (the session
extracts them into a folder of the request's own, deleted when the request ends).

A zip is refused, naming the archive and the entry, when it has too many entries, more uncompressed bytes than
allowed, an entry that expands more than `max_ratio` times (a zip bomb), a link, an absolute or `..` name, or
two entries of the same name. Extraction counts the bytes it writes, so a header that lies about sizes is
caught too.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class UploadError(ValueError):
    """An upload that is refused; the message names the user's file, never a server path."""


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = 10_000
    max_total_bytes: int = 2 * 2**30  # uncompressed, all entries together
    max_ratio: float = 100.0  # uncompressed / compressed size of one entry (checked above 1 MiB)


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a link"
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute name"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "has a '..' in its name"
    return None


def check_zip(path: str | Path, label: str, limits: ZipLimits = ZipLimits()) -> list[zipfile.ZipInfo]:
    """The archive's file entries, once every entry has passed the checks."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{label}: not a readable zip archive ({exc}).") from None
    if len(infos) > limits.max_entries:
        raise UploadError(f"{label}: {len(infos)} entries; at most {limits.max_entries} are accepted.")
    total, seen = 0, set()
    for info in infos:
        problem = _entry_problem(info)
        if problem:
            raise UploadError(f"{label}: the entry {info.filename!r} {problem}; refused.")
        key = info.filename.rstrip("/").lower()
        if key in seen:
            raise UploadError(f"{label}: the entry {info.filename!r} appears twice; refused.")
        seen.add(key)
        if info.file_size > 2**20 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise UploadError(
                f"{label}: the entry {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f} "
                f"times (at most {limits.max_ratio:.0f}); refused as a possible zip bomb."
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise UploadError(f"{label}: more than {limits.max_total_bytes / 2**30:.1f} GiB uncompressed; refused.")
    return [i for i in infos if not i.is_dir()]


def extract_zip(path: str | Path, dest: Path, label: str, limits: ZipLimits = ZipLimits()) -> list[Path]:
    """Check, then extract every file entry under `dest`; returns the files written."""
    infos = check_zip(path, label, limits)
    dest = dest.resolve()
    written, total = [], 0
    with zipfile.ZipFile(path) as zf:
        for info in infos:
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(dest):  # belt and braces after the name checks
                raise UploadError(f"{label}: the entry {info.filename!r} leaves the archive's folder; refused.")
            target.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            with zf.open(info) as src, open(target, "wb") as out:
                while block := src.read(1 << 20):
                    size += len(block)
                    total += len(block)
                    if size > info.file_size or total > limits.max_total_bytes:
                        raise UploadError(
                            f"{label}: the entry {info.filename!r} is larger than its header says; refused."
                        )
                    out.write(block)
            written.append(target)
    return written
