"""``salmap predict INPUT... --out DIR``: saliency maps for any images, batched, on CPU or GPU.

Inputs are files, folders (searched recursively, symlinked folders included) or glob patterns.
Outputs mirror the input tree under ``--out``: for ``photos/a/b.jpg`` given as ``photos``,
``DIR/a/b_map.png``, ``DIR/a/b_overlay.jpg``... and ``DIR/manifest.jsonl`` says, one line per
input, what was written or why not. Every option is checked before the model loads. Existing
outputs are refused unless ``--overwrite`` or ``--skip-existing`` (resume an interrupted run);
inputs are never overwritten, an output folder inside an input folder is not read as input,
and every file is written atomically. Unreadable images are reported and skipped, and the
command exits with status 1 when anything was skipped.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from salmap.commands import add_model_arguments
from salmap.distributed import add_engine_arguments, check_engine_arguments
from salmap.errors import SalmapError

OUTPUTS = ("map", "density", "log-density", "overlay", "side-by-side", "fog")
NAMINGS = ("suffix", "image")
PIXEL_OUTPUTS = ("overlay", "side-by-side", "fog")  # the ones that need the image itself
MANIFEST = "manifest.jsonl"
DENSITY_DTYPES = ("float32", "float16")
# Formats that may hold several frames (animations, pages); others are not checked for them.
MULTI_FRAME_SUFFIXES = frozenset({".gif", ".tif", ".tiff", ".webp", ".png", ".apng", ".ico"})


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="saliency maps for images, files or folders",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns"
    )
    add_model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--save",
        default="map,overlay",
        help=f"comma-separated outputs: {', '.join(OUTPUTS)} (default: map,overlay)",
    )
    p.add_argument(
        "--naming",
        choices=NAMINGS,
        default="suffix",
        help="output file names: suffix (<name>_map.png, <name>_density.npy, ...) or image "
        "(<name>.png, <name>.npy: the image's own name, as benchmark submissions expect; one "
        "output per extension)",
    )
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bit depth of the map PNG")
    p.add_argument(
        "--scale",
        choices=("mass", "peak"),
        default="mass",
        help="heatmap colours by the share of attention in brighter regions (mass, default) "
        "or relative to the most salient pixel (peak)",
    )
    p.add_argument(
        "--contours", action="store_true", help="draw the 25/50/75%% attention regions' outlines"
    )
    p.add_argument(
        "--no-legend", action="store_true", help="no colour legend under overlays and side-by-sides"
    )
    p.add_argument(
        "--colormap", default=None, help="matplotlib colormap for heatmaps (default: inferno)"
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="heatmap opacity at the most salient point, 0-1 (default: 0.7)",
    )
    p.add_argument(
        "--background",
        default="white",
        help="colour under transparent pixels: a name, #rrggbb or r,g,b (default: white)",
    )
    p.add_argument(
        "--all-frames",
        action="store_true",
        help="every frame of multi-frame GIF/TIFF/WebP files (default: the first, noted)",
    )
    p.add_argument(
        "--max-output-side",
        type=int,
        default=None,
        metavar="N",
        help="shrink saved maps and overlays so that their longer side is at most N pixels",
    )
    p.add_argument(
        "--density-dtype",
        choices=DENSITY_DTYPES,
        default="float32",
        help="float16 halves the .npy; it then holds the density times the pixel count",
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda or cuda:N (default: CUDA when the runner has it: PyTorch with CUDA, or "
        "onnxruntime-gpu)",
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--overwrite", action="store_true", help="replace outputs of an earlier run"
    )
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="do only the images whose outputs are missing (resume an interrupted run)",
    )
    add_engine_arguments(p)
    p.set_defaults(run=run)


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


@dataclass(frozen=True)
class OutputOptions:
    """How :func:`write_outputs` draws and stores each output."""

    bits: int = 8
    colormap: str = "inferno"
    alpha: float = 0.7
    scale: str = "mass"
    contours: bool = False
    legend: bool = True
    density_dtype: str = "float32"


def _inside(exclude: Path | None, base: Path) -> Path | None:
    """``exclude`` (the output folder) where it lies strictly inside the input ``base``: only
    there can outputs be read back as inputs. An output folder above the inputs excludes
    nothing (the outputs mirror the inputs' tree beside them, not inside)."""
    base = Path(os.path.realpath(base))
    return exclude if exclude and exclude != base and exclude.is_relative_to(base) else None


def _listed_outputs(folder: Path) -> set[str]:
    """The files an earlier ``salmap predict`` run lists as its outputs in ``folder``'s
    manifest (real paths)."""
    try:
        data = (folder / MANIFEST).read_bytes()
    except OSError:
        return set()
    return {
        os.path.realpath(folder / rel)
        for entry in manifest_entries(data)
        if isinstance(entry.get("outputs"), dict)
        for rel in entry["outputs"].values()
        if isinstance(rel, str)
    }


def _walk(folder: Path, exclude: Path | None, ignored: Counter) -> list[Path]:
    """Image files under ``folder``, following symlinked folders once each (a link back up the
    tree is a loop, counted and not followed), skipping ``exclude``, hidden files and the
    outputs of earlier salmap runs: the files a ``manifest.jsonl`` lists, and crop files
    beside or below a ``crops.jsonl``."""
    from salmap.commands.crop import CROP_FILES, JSONL
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
            earlier |= _listed_outputs(Path(root))
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


def collect_inputs(inputs: list[str], exclude: Path | None = None) -> Collected:
    """Every image named by ``inputs`` (files, folders, glob patterns) with its output stem
    relative to --out, mirroring folders' trees; names that collide get ``-2``, ``-3``...
    Files under ``exclude`` (the output folder) are left out."""
    exclude = Path(os.path.realpath(exclude)) if exclude else None
    found: list[tuple[Path, Path]] = []
    out = Collected([])
    for item in inputs:
        p = Path(item)
        if p.is_dir():
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
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            base = Path(item.split("*")[0].split("?")[0].split("[")[0])
            base = base if base.is_dir() else base.parent
            inside = _inside(exclude, base)
            if inside:
                matches = [m for m in matches if not m.resolve().is_relative_to(inside)]
            if not matches:
                out.problem(item, "no file matches")
            found += [
                (m, m.relative_to(base).with_suffix("") if m.is_relative_to(base) else Path(m.stem))
                for m in matches
            ]
        elif p.is_symlink():
            out.problem(item, "broken link")
        else:
            out.problem(item, "no such file or folder")
    out.items = _unique_stems(found)
    return out


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


def output_paths(
    stem: Path, out: Path, kinds: list[str], naming: str = "suffix"
) -> dict[str, Path]:
    """Where each kind of output of the image with output stem ``stem`` goes under ``out``
    (``naming="image"``: ``<stem>.<ext>``, without the kind's suffix)."""
    from salmap.inference import OUTPUT_EXTENSION, OUTPUT_SUFFIX

    suffix = OUTPUT_SUFFIX if naming == "suffix" else dict.fromkeys(OUTPUT_SUFFIX, "")
    return {k: out / f"{stem}{suffix[k]}{OUTPUT_EXTENSION[k]}" for k in kinds}


def plan_outputs(
    items,
    out: Path,
    kinds: list[str],
    overwrite: bool = False,
    skip_existing: bool = False,
    naming: str = "suffix",
) -> list[dict[str, Path]]:
    """The output file of each kind for each item. Existing outputs are refused (one error
    listing them) unless ``overwrite`` or ``skip_existing``; an output that is an input always.
    ``naming="image"`` drops the kind suffixes (``<name>.png``): one output per extension."""
    from salmap.inference import OUTPUT_EXTENSION, OUTPUT_SUFFIX

    suffix = OUTPUT_SUFFIX if naming == "suffix" else dict.fromkeys(OUTPUT_SUFFIX, "")
    endings = [suffix[k] + OUTPUT_EXTENSION[k] for k in kinds]
    if len(set(endings)) < len(endings):
        raise SalmapError(
            f"--naming {naming}: --save {','.join(kinds)} would write two outputs to one file "
            "name; save one output per extension (.png, .npy, .jpg)"
        )
    inputs = {item[0].resolve() for item in items}
    plans, clashes = [], []
    for item in items:
        plan = output_paths(item[1], out, kinds, naming)
        for target in plan.values():
            if target.resolve() in inputs:
                raise SalmapError(f"{target} is one of the inputs: choose another --out")
            if target.exists() and not (overwrite or skip_existing):
                clashes.append(target)
        plans.append(plan)
    refuse_existing(clashes)
    return plans


def refuse_existing(clashes: list) -> None:
    """The error for outputs that exist already, when neither flag allows them."""
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise SalmapError(
            f"outputs exist already: {', '.join(map(str, clashes[:3]))}{more}; pass "
            "--skip-existing to do only the missing ones, or --overwrite to replace them"
        )


def map_array(density: np.ndarray, bits: int = 8) -> np.ndarray:
    """The map as the PNG holds it: the density scaled so its peak is 255 (or 65535), rounded."""
    top = 65535 if bits == 16 else 255
    scaled = np.rint(density * np.float32(top / max(float(density.max()), 1e-30)))
    return scaled.astype(np.uint16 if bits == 16 else np.uint8)


def write_outputs(
    image: np.ndarray | None,
    density: np.ndarray,
    plan: dict[str, Path],
    options: OutputOptions,
    write=None,
) -> None:
    """Write ``plan``'s outputs for one image (H x W x 3 uint8; None when only the map and
    density are planned) and its H x W density, each file atomically; ``write(path, data)``
    defaults to a local atomic write (the Ray engine passes one for any file system)."""
    import io

    from PIL import Image

    from salmap.files import atomic_write_bytes
    from salmap.metrics import density_to_log
    from salmap.viz import fog, heatmap_rgb, overlay, with_legend

    o = options

    def encode(array, fmt="PNG", **kw) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, format=fmt, **kw)
        return buf.getvalue()

    def legend(rgb):
        return with_legend(rgb, o.scale, o.colormap) if o.legend else rgb

    for kind, path in plan.items():
        if kind in ("density", "log-density"):
            buf = io.BytesIO()
            if kind == "log-density":  # natural log, pysaliency's and DeepGaze's format
                # float32 cannot hold exp of the lowest values: floor the mass at its tiny
                tiny = np.maximum(density, np.finfo(np.float32).tiny)
                np.save(buf, density_to_log(tiny).astype(np.float32))
            elif o.density_dtype == "float16":  # scaled to mean 1: a density would underflow
                np.save(buf, (density * np.float32(density.size)).astype(np.float16))
            else:
                np.save(buf, density.astype(np.float32, copy=False))
            data = buf.getvalue()
        elif kind == "map":
            data = encode(map_array(density, o.bits))
        elif kind == "overlay":
            heat = overlay(image, density, o.alpha, o.colormap, o.scale, o.contours)
            data = encode(legend(heat), "JPEG", quality=92)
        elif kind == "fog":
            data = encode(fog(image, density), "JPEG", quality=92)
        else:
            side = np.concatenate([image, heatmap_rgb(density, o.colormap, o.scale)], axis=1)
            data = encode(legend(side), "JPEG", quality=92)
        (write or atomic_write_bytes)(path, data)


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour name, ``#rrggbb`` or ``r,g,b`` (0-255) -> an RGB tuple."""
    from PIL import ImageColor

    try:
        if "," in text:
            rgb = tuple(int(v) for v in text.split(","))
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
            return rgb
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise SalmapError(
            f"--background {text!r}: expected a colour name, #rrggbb or r,g,b with 0-255"
        ) from None


def check_output_folder(out: Path) -> None:
    """Create ``out`` and make sure a file can be written there, or say why not."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise SalmapError(f"--out {out}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise SalmapError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def check_options(args) -> tuple[list[str], OutputOptions]:
    """Every option checked, before any image is read or model loaded: the outputs to save
    and how to draw them. Raises a SalmapError naming the option at fault."""
    from salmap.models.io import choose_runner
    from salmap.viz import DEFAULT_ALPHA, DEFAULT_COLORMAP, colormap_lut

    kinds = [k.strip() for k in args.save.split(",") if k.strip()]
    bad = [k for k in kinds if k not in OUTPUTS]
    if bad or not kinds:
        raise SalmapError(f"--save takes {', '.join(OUTPUTS)}; got {args.save!r}")
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise SalmapError("--alpha must be between 0 and 1")
    if args.batch_size < 1:
        raise SalmapError(f"--batch-size must be at least 1; got {args.batch_size}")
    if args.max_output_side is not None and args.max_output_side < 1:
        raise SalmapError(f"--max-output-side must be at least 1; got {args.max_output_side}")
    colormap = args.colormap or DEFAULT_COLORMAP
    try:
        colormap_lut(colormap)
    except SalmapError as e:
        raise SalmapError(f"--colormap: {e}") from None
    args.background_rgb = parse_colour(args.background)
    from salmap.inference import check_device

    args.runner = choose_runner(args.model, args.runner, args.device)

    check_device(args.device, args.runner)
    if "://" not in args.out:  # a URI is checked by the Ray engine (salmap.distributed)
        check_output_folder(Path(args.out))
    options = OutputOptions(
        bits=args.bits,
        colormap=colormap,
        alpha=DEFAULT_ALPHA if args.alpha is None else args.alpha,
        scale=args.scale,
        contours=args.contours,
        legend=not args.no_legend,
        density_dtype=args.density_dtype,
    )
    return kinds, options


def run(args) -> int:
    check_engine_arguments(args)
    if args.engine != "local" and args.naming != "suffix":
        raise SalmapError("--naming image works with the local engine only (--engine local)")
    kinds, options = check_options(args)
    out = Path(args.out)
    found = collect_inputs(args.inputs, exclude=None if "://" in args.out else out)
    items = expand_frames(found.items) if args.all_frames else found.items
    if args.engine == "ray":
        from salmap.distributed import predict_files_on_ray

        done, reused, failed = predict_files_on_ray(
            items, kinds, options, args, found.manifest_entries()
        )
    else:
        done, reused, failed = predict_locally(
            items, kinds, options, args, found.manifest_entries()
        )
    skipped = found.messages + failed
    where = args.out.rstrip("/") if "://" in args.out else out
    ignored = found.ignored_text()
    print(
        f"{done} image(s) done, {len(skipped)} skipped"
        + (f", {reused} done by an earlier run" if reused else "")
        + (f"; files ignored: {ignored}" if ignored else "")
        + f"; outputs in {where}, listed in {where}/{MANIFEST}"
    )
    for reason in skipped:
        print(f"  skipped: {reason}", file=sys.stderr)
    return 1 if skipped else 0


def predict_locally(items, kinds, options, args, problems=()) -> tuple[int, int, list[str]]:
    """The local engine: how many images were done, how many kept from an earlier run, and
    why the others were skipped (``problems``: manifest entries of inputs that named none)."""
    from salmap import load_model
    from salmap.inference import make_runner

    out = Path(args.out)
    plans = plan_outputs(items, out, kinds, args.overwrite, args.skip_existing, args.naming)
    earlier = (out / MANIFEST).read_bytes() if (out / MANIFEST).is_file() else None
    check_earlier_manifest(out / MANIFEST, earlier, args.overwrite)
    todo = [i for i, plan in enumerate(plans) if not args.skip_existing or not _complete(plan)]
    entries: dict[int, dict] = {
        i: _entry(items[i], plans[i], out, "existing") for i in set(range(len(items))) - set(todo)
    }
    done, failed = 0, []
    try:
        if todo:
            model = load_model(args.model, runner=args.runner)
            runner = make_runner(model, args.device)
            done, failed = predict_files(
                [items[i] for i in todo],
                [plans[i] for i in todo],
                runner,
                options,
                args,
                entries=_Recorder(entries, todo, items, plans, out),
            )
    finally:
        write_manifest(
            out / MANIFEST, items, plans, out, entries, earlier, problems, inputs=args.inputs
        )
    return done, len(items) - len(todo), failed


def _complete(plan: dict[str, Path]) -> bool:
    return all(p.is_file() for p in plan.values())


def _entry(item: Input, plan, out: Path, status: str, error: str | None = None, note=None):
    entry = {"input": str(item.path), "status": status}
    if item.frame is not None:
        entry["frame"] = item.frame + 1
    if error is None:
        entry["outputs"] = {k: str(p.relative_to(out)) for k, p in plan.items()}
    else:
        entry["error"] = error
    if note:
        entry["note"] = note
    return entry


class _Recorder:
    """Collects the manifest entry of each predicted item (index into the full input list)."""

    def __init__(self, entries, todo, items, plans, out):
        self.entries, self.todo, self.items, self.plans, self.out = entries, todo, items, plans, out

    def __call__(self, k: int, status: str, error: str | None = None, note: str | None = None):
        i = self.todo[k]
        self.entries[i] = _entry(self.items[i], self.plans[i], self.out, status, error, note)


def write_manifest(
    path,
    items,
    plans,
    out: Path,
    entries: dict[int, dict],
    earlier=None,
    problems=(),
    inputs=(),
    write=None,
) -> None:
    """``DIR/manifest.jsonl``: one JSON line per input, in input order: its outputs (status
    ``done``, or ``existing`` from an earlier run), its error, or ``not done`` (interrupted),
    then the ``problems`` (entries of inputs that named no image). The lines of ``earlier``
    (the bytes of the manifest found there) come first, kept as they were, for what this run
    did not redo: a folder filled by several runs lists them all. An earlier line goes when
    this run has its input (``inputs``: the command's arguments, or an image found) or writes
    one of its output files."""
    from salmap.files import atomic_write_bytes

    now = [
        entries.get(i) or _entry(item, plans[i], out, "not done") for i, item in enumerate(items)
    ]
    now += list(problems)
    ours = {(e["input"], e.get("frame")) for e in now} | {(str(i), None) for i in inputs}
    planned = {str(p.relative_to(out)) for plan in plans for p in plan.values()}

    def redone(e: dict) -> bool:
        outputs = e.get("outputs") if isinstance(e.get("outputs"), dict) else {}
        written = planned & {str(v) for v in outputs.values()}
        return (e["input"], e.get("frame")) in ours or bool(written)

    kept = [e for e in manifest_entries(earlier) if not redone(e)]
    text = "".join(_json_line(e) + "\n" for e in kept + now)
    (write or atomic_write_bytes)(path, text.encode())


def _json_line(entry: dict) -> str:
    """One JSON line, non-ASCII names as they are where they are valid Unicode (a file name
    that is not is written escaped, so the line is still valid UTF-8 JSON)."""
    line = json.dumps(entry, ensure_ascii=False)
    try:
        line.encode()
    except UnicodeEncodeError:
        return json.dumps(entry)
    return line


def check_earlier_manifest(path, earlier: bytes | None, overwrite: bool) -> None:
    """Refuse to replace a ``manifest.jsonl`` that is not salmap's, unless ``overwrite``."""
    if earlier and earlier.strip() and not manifest_entries(earlier) and not overwrite:
        raise SalmapError(
            f"{path} exists and is not a salmap manifest: pass --overwrite to replace it, or "
            "choose another --out"
        )


def manifest_entries(data: bytes | None) -> list[dict]:
    """The entries of a manifest's bytes (lines that are not an entry are left out)."""
    entries = []
    for line in (data or b"").decode("utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("input"), str):
            entries.append(entry)
    return entries


def predict_files(
    items,
    plans,
    runner,
    options: OutputOptions,
    args,
    progress: bool = True,
    entries=None,
    write=None,
) -> tuple[int, list[str]]:
    """Predict every item of ``items`` and write its outputs as ``plans`` say (decoding and
    writing in 2 threads; ``write`` as :func:`write_outputs` takes it). ``args`` gives
    batch_size, background_rgb and max_output_side; ``entries(k, status, error, note)`` hears
    of each item. Returns how many were done and why the others were skipped."""
    from tqdm import tqdm

    from salmap.data.images import frame_count
    from salmap.inference import predict_stream, read_input

    keep_pixels = any(k in PIXEL_OUTPUTS for plan in plans for k in plan)
    notes: dict[int, str] = {}

    def read(k: int):
        item = items[k]
        if item.frame is None and item.path.suffix.lower() in MULTI_FRAME_SUFFIXES:
            n = frame_count(item.path)
            if n > 1:
                notes[k] = f"first of {n} frames (--all-frames for all)"
        return read_input(
            item.path,
            runner.config,
            args.background_rgb,
            args.max_output_side,
            keep_pixels,
            item.frame or 0,
        )

    entries = entries or (lambda *a, **kw: None)
    done, skipped, writes = 0, [], []
    with (
        ThreadPoolExecutor(2) as pool,
        tqdm(total=len(items), desc="predicting", unit="img", disable=not progress) as bar,
    ):
        results = predict_stream(runner, range(len(items)), args.batch_size, pool, read)
        for k, (item, plan, (image, result)) in enumerate(zip(items, plans, results)):
            if isinstance(result, Exception):
                message = str(result)
                message = message if str(item.path) in message else f"{item.path}: {message}"
                skipped.append(message)
                entries(k, "error", message)
            else:
                writes.append((k, pool.submit(write_outputs, image, result, plan, options, write)))
                done += 1
                if len(writes) > 2 * args.batch_size:  # bound the images held in memory
                    j, w = writes.pop(0)
                    w.result()
                    entries(j, "done", note=notes.get(j))
            bar.update(1)
        for j, w in writes:
            w.result()
            entries(j, "done", note=notes.get(j))
    return done, skipped
