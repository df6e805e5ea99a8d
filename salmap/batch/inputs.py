"""The images that inputs name: files, folders (searched recursively, symlinked folders
included, loops not followed) and glob patterns, each with its output stem relative to
``--out``; multi-frame files split into frames; the files left out, counted by reason."""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from salmap.batch.manifest import JSONL, MANIFEST, listed_outputs
from salmap.batch.outputs import CROP_FILES
from salmap.errors import SalmapError

# Formats that may hold several frames (animations, pages); others are not checked for them.
MULTI_FRAME_SUFFIXES = frozenset({".gif", ".tif", ".tiff", ".webp", ".png", ".apng", ".ico"})


class Input(NamedTuple):
    """One image to predict: its file, its output stem relative to --out, and the frame
    (0-based) when --all-frames split a multi-frame file (None: the first, as any image)."""

    path: Path
    stem: Path
    frame: int | None = None


@dataclass
class Collected:
    """What :func:`collect_inputs` found: the images, the problems (inputs that name no image,
    as (input, message): each gets its line in the manifest or crops.jsonl, and the exit status
    is 1) and the files it ignored, counted by reason."""

    items: list[Input]
    problems: list[tuple[str, str]] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)

    def problem(self, item, why: str) -> None:
        if str(item) not in (i for i, _ in self.problems):  # an input given twice: one line
            self.problems.append((str(item), f"{item}: {why}"))

    @property
    def messages(self) -> list[str]:
        return [message for _, message in self.problems]

    def manifest_entries(self) -> list[dict]:
        return [{"input": i, "status": "error", "error": m} for i, m in self.problems]

    def ignored_text(self) -> str:
        """The ignored files in words, "3 hidden file, 12 an earlier salmap run's output"."""
        return ", ".join(f"{n} {why}" for why, n in sorted(self.ignored.items()))


def _inside(exclude: Path | None, base: Path) -> Path | None:
    """``exclude`` (the output folder) where it lies strictly inside the input ``base``: only
    there can outputs be read back as inputs. An output folder above the inputs excludes
    nothing (the outputs mirror the inputs' tree beside them, not inside)."""
    base = Path(os.path.realpath(base))
    return exclude if exclude and exclude != base and exclude.is_relative_to(base) else None


def _walk(folder: Path, exclude: Path | None, ignored: Counter) -> list[Path]:
    """Image files under ``folder``, following symlinked folders once each (a link back up the
    tree is a loop, counted and not followed), skipping ``exclude``, hidden files and the
    outputs of earlier salmap runs: the files a ``manifest.jsonl`` lists, and crop files
    beside or below a ``crops.jsonl``."""
    from salmap.data.images import is_image_file

    exclude = _inside(exclude, folder)
    found, seen, earlier, crop_roots = [], set(), set(), []
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen or (exclude and Path(real).is_relative_to(exclude)):
            ignored["folder loop" if real in seen else "the output folder"] += 1
            dirs.clear()
            continue
        seen.add(real)
        if MANIFEST in files:
            earlier |= listed_outputs(Path(root))
        if JSONL in files:
            crop_roots.append(Path(real))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            f = Path(root) / name
            if name.startswith("."):
                ignored["hidden file"] += 1
            elif not f.exists():
                ignored["broken link"] += 1
            elif os.path.realpath(f) in earlier or (
                CROP_FILES.search(name) and any(Path(real).is_relative_to(c) for c in crop_roots)
            ):
                ignored["an earlier salmap run's output"] += 1
            elif is_image_file(f):
                found.append(f)
            else:
                ignored["not an image (by extension)"] += 1
    return sorted(found)


def collect_inputs(
    inputs: list[str], exclude: Path | None = None, captures: dict[str, Path] | None = None
) -> Collected:
    """Every image named by ``inputs`` (files, folders, glob patterns, URLs of ``captures``:
    their screenshots) with its output stem relative to --out, mirroring folders' trees (a
    URL's stem: its sanitised host and path); names that collide get ``-2``, ``-3``...
    Files under ``exclude`` (the output folder) are left out."""
    from salmap.capture import page_name

    exclude = Path(os.path.realpath(exclude)) if exclude else None
    found: list[tuple[Path, Path]] = []
    out = Collected([])
    for item in inputs:
        p = Path(item)
        if captures and item in captures:
            found.append((captures[item], Path(page_name(item))))
        elif p.is_dir():
            if exclude and Path(os.path.realpath(p)) == exclude:
                raise SalmapError(
                    f"--out {p} is an input folder: choose another --out (a new folder inside "
                    "it is fine: it is not read back)"
                )
            images = _walk(p, exclude, out.ignored)
            if not images:
                out.problem(p, "no images in this folder")
            found += [(f, f.relative_to(p).with_suffix("")) for f in images]
        elif p.is_file():
            found.append((p, Path(p.stem)))
        elif glob.has_magic(item):
            found += _glob(item, exclude, out)
        elif p.is_symlink():
            out.problem(item, "broken link")
        else:
            out.problem(item, "no such file or folder")
    out.items = _unique_stems(found)
    return out


def _glob(pattern: str, exclude: Path | None, out: Collected) -> list[tuple[Path, Path]]:
    """The files ``pattern`` matches, with their stems relative to the folder it starts in."""
    matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True) if Path(m).is_file())
    base = Path(pattern.split("*")[0].split("?")[0].split("[")[0])
    base = base if base.is_dir() else base.parent
    inside = _inside(exclude, base)
    if inside:
        matches = [m for m in matches if not m.resolve().is_relative_to(inside)]
    if not matches:
        out.problem(pattern, "no file matches")
    return [
        (m, m.relative_to(base).with_suffix("") if m.is_relative_to(base) else Path(m.stem))
        for m in matches
    ]


def _unique_stems(found: list[tuple[Path, Path]]) -> list[Input]:
    seen: dict[Path, Path] = {}
    unique = []
    for path, stem in found:
        if seen.get(stem) == path:
            continue  # the same file named twice
        base, k = stem, 1
        while stem in seen:  # a.jpg and a.png, or the same name from two inputs
            k += 1
            stem = base.with_name(f"{base.name}-{k}")
        seen[stem] = path
        unique.append(Input(path, stem))
    return unique


def expand_frames(items: list[Input]) -> list[Input]:
    """Each multi-frame file becomes one input per frame, stems ``<name>-frame<k>`` (k from 1)."""
    from salmap.data.images import frame_count

    out = []
    for item in items:
        n = frame_count(item.path) if item.path.suffix.lower() in MULTI_FRAME_SUFFIXES else 1
        if n == 1:
            out.append(item)
            continue
        digits = len(str(n))
        for k in range(n):
            stem = item.stem.with_name(f"{item.stem.name}-frame{k + 1:0{digits}d}")
            out.append(Input(item.path, stem, k))
    return out
