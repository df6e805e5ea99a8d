"""``salmap predict``'s job: each image's map, density, overlay... written under ``--out``
and ``manifest.jsonl`` listing them, on the local engine or on Ray.

From Python, :func:`predict_inputs` runs the command's work with its arguments (an
``argparse.Namespace`` as ``salmap predict`` parses it, or any object with those attributes).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from salmap.batch.inputs import MULTI_FRAME_SUFFIXES, Input, collect_inputs, expand_frames
from salmap.batch.local import Summary, run_items
from salmap.batch.manifest import MANIFEST, check_earlier_manifest, entry, write_manifest
from salmap.batch.outputs import (
    PIXEL_OUTPUTS,
    complete,
    output_paths,
    plan_outputs,
    refuse_existing,
)

DENSITY_DTYPES = ("float32", "float16")


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


def density_bytes(density: np.ndarray, kind: str, dtype: str = "float32") -> bytes:
    """The ``.npy`` of a density (``kind`` "density") or of its natural log ("log-density")."""
    from salmap.metrics import density_to_log

    buf = io.BytesIO()
    if kind == "log-density":  # natural log, pysaliency's and DeepGaze's format
        # float32 cannot hold exp of the lowest values: floor the mass at its tiny
        tiny = np.maximum(density, np.finfo(np.float32).tiny)
        np.save(buf, density_to_log(tiny).astype(np.float32))
    elif dtype == "float16":  # scaled to mean 1: a density would underflow
        np.save(buf, (density * np.float32(density.size)).astype(np.float16))
    else:
        np.save(buf, density.astype(np.float32, copy=False))
    return buf.getvalue()


def output_bytes(
    kind: str, image: np.ndarray | None, density: np.ndarray, o: OutputOptions, fold=None
):
    """The bytes of one output of ``kind`` for an image (H x W x 3 uint8) and its density;
    a long page's ``fold`` (pixels) is marked on the pictures."""
    from salmap.viz import fog, heatmap_rgb, image_bytes, map_array, mark_fold, overlay, with_legend

    def legend(rgb):
        return with_legend(rgb, o.scale, o.colormap) if o.legend else rgb

    def marked(rgb):
        return mark_fold(rgb, fold) if fold else rgb

    if kind in ("density", "log-density"):
        return density_bytes(density, kind, o.density_dtype)
    if kind == "map":
        return image_bytes(map_array(density, o.bits))
    if kind == "overlay":
        heat = overlay(image, density, o.alpha, o.colormap, o.scale, o.contours)
        return image_bytes(legend(marked(heat)), "JPEG")
    if kind == "fog":
        return image_bytes(marked(fog(image, density)), "JPEG")
    halves = (image.copy(), heatmap_rgb(density, o.colormap, o.scale))
    side = np.concatenate([marked(h) for h in halves], axis=1)
    return image_bytes(legend(side), "JPEG")


def write_outputs(
    image: np.ndarray | None,
    density: np.ndarray,
    plan: dict[str, Path],
    options: OutputOptions,
    write=None,
    fold: int | None = None,
) -> None:
    """Write ``plan``'s outputs for one image (H x W x 3 uint8; None when only the map and
    density are planned) and its H x W density, each file atomically; ``write(path, data)``
    defaults to a local atomic write (the Ray engine passes one for any file system). A long
    page's ``fold`` is marked on the pictures."""
    from salmap.files import atomic_write_bytes

    for kind, path in plan.items():
        (write or atomic_write_bytes)(path, output_bytes(kind, image, density, options, fold))


def page_options(args, path: Path) -> tuple[str, tuple[int, int] | None]:
    """``--long-page`` and the viewport an input was seen at: the captures' (``--viewport``
    or its default) for pages captured by URL, ``--viewport`` (or None) for image files."""
    from salmap.capture import DEFAULT_VIEWPORT

    mode = getattr(args, "long_page", "off")
    viewport = getattr(args, "viewport_size", None)
    if viewport is None and path in getattr(args, "captures", {}).values():
        viewport = DEFAULT_VIEWPORT
    return mode, viewport


class PredictJob:
    """The engines' job for ``salmap predict``: ``items`` (:class:`~salmap.batch.inputs.Input`)
    written as ``plans`` say; each line is the item's manifest entry, listing ``listed`` (the
    full plans, when ``plans`` holds only the missing files; default ``plans``) relative to
    ``out``. ``args`` gives background_rgb and max_output_side; ``write`` as
    :func:`write_outputs` takes it."""

    desc = "predicting"

    def __init__(self, items, plans, out: Path, options, args, write=None, listed=None):
        self.items, self.plans, self.out, self.options = items, plans, out, options
        self.args, self.writer, self.listed = args, write, listed or plans
        self.keep_pixels = any(k in PIXEL_OUTPUTS for plan in plans for k in plan)
        self.notes: dict[int, str] = {}
        self.folds: dict[int, int] = {}

    def read(self, k: int, config):
        from salmap.data.images import frame_count
        from salmap.inference import PageGeometry, read_input

        item = self.items[k]
        if item.frame is None and item.path.suffix.lower() in MULTI_FRAME_SUFFIXES:
            n = frame_count(item.path)
            if n > 1:
                self.notes[k] = f"first of {n} frames (--all-frames for all)"
        rgb, x, geometry = read_input(
            item.path,
            config,
            self.args.background_rgb,
            self.args.max_output_side,
            self.keep_pixels,
            item.frame or 0,
            *page_options(self.args, item.path),
        )
        if isinstance(geometry, PageGeometry):
            self.folds[k] = geometry.fold
            self.notes[k] = (
                f"long page: {geometry.screenfuls} screenfuls, fold at {geometry.fold} px"
            )
        return rgb, x, geometry

    def write(self, k: int, image, density) -> dict:
        fold = self.folds.get(k)
        write_outputs(image, density, self.plans[k], self.options, self.writer, fold)
        return self.line(k, "done", note=self.notes.get(k))

    def failed(self, k: int, message: str) -> dict:
        return self.line(k, "error", message)

    def line(self, k: int, status: str, error=None, note=None) -> dict:
        return entry(self.items[k], self.listed[k], self.out, status, error, note)


def predict_inputs(args, kinds: list[str], options: OutputOptions) -> Summary:
    """``salmap predict``'s work once its options are checked: the images ``args.inputs``
    name, predicted on ``args.engine`` and written under ``args.out`` with the manifest."""
    out = Path(args.out)
    captured, failed = capture_pages(args)
    inputs = [i for i in args.inputs if i not in dict(failed)]
    found = collect_inputs(inputs, exclude=None if "://" in args.out else out, captures=captured)
    for url, why in failed:
        found.problem(url, why)
    items = expand_frames(found.items) if args.all_frames else found.items
    engine = predict_on_ray if args.engine == "ray" else predict_locally
    done, kept, failed = engine(items, kinds, options, args, found.manifest_entries())
    return Summary(done, found.messages + failed, kept, found.ignored_text())


def capture_pages(args) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """The pages ``args.urls`` names, captured into ``--out`` (:func:`salmap.capture.capture_urls`;
    kept with --skip-existing, replaced with --overwrite); those that failed, with why."""
    from salmap.capture import DEFAULT_VIEWPORT, capture_urls

    urls = getattr(args, "urls", [])
    if not urls:
        return {}, []
    existing = "replace" if args.overwrite else "keep" if args.skip_existing else "refuse"
    viewport = args.viewport_size or DEFAULT_VIEWPORT
    args.captures, failed = capture_urls(
        urls, Path(args.out), viewport, args.full_page, args.timeout, existing
    )
    return args.captures, failed


def outcome(lines: dict[int, dict]) -> tuple[int, list[str]]:
    """How many of a job's ``lines`` are done, and the errors of the others, in item order."""
    done = sum(line["status"] == "done" for line in lines.values())
    return done, [lines[k]["error"] for k in sorted(lines) if lines[k]["status"] == "error"]


def predict_locally(items, kinds, options, args, problems=()) -> tuple[int, int, list[str]]:
    """The local engine: how many images were done, how many kept from an earlier run, and
    why the others were skipped (``problems``: manifest entries of inputs that named none)."""
    from salmap import load_model
    from salmap.inference import make_runner

    out = Path(args.out)
    plans = plan_outputs(items, out, kinds, args.overwrite, args.skip_existing, args.naming)
    earlier = (out / MANIFEST).read_bytes() if (out / MANIFEST).is_file() else None
    check_earlier_manifest(out / MANIFEST, earlier, args.overwrite)
    todo = [i for i, plan in enumerate(plans) if not args.skip_existing or not complete(plan)]
    entries: dict[int, dict] = {
        i: entry(items[i], plans[i], out, "existing") for i in set(range(len(items))) - set(todo)
    }
    lines: dict[int, dict] = {}
    try:
        if todo:
            runner = make_runner(load_model(args.model, runner=args.runner), args.device)
            job = PredictJob([items[i] for i in todo], [plans[i] for i in todo], out, options, args)
            run_items(job, runner, args.batch_size, lines)
    finally:
        entries.update({todo[k]: line for k, line in lines.items()})
        write_manifest(
            out / MANIFEST, items, plans, out, entries, earlier, problems, inputs=args.inputs
        )
    done, failed = outcome(lines)
    return done, len(items) - len(todo), failed


# --- on Ray ------------------------------------------------------------------------------------


def predict_rows(actor, batch: dict) -> dict:
    """A Ray actor's share (rows ``index``, ``path``, ``stem``, ``frame``): the local engine
    run on the images of the batch whose outputs under ``--out`` are missing (all of them with
    ``--overwrite``); one row per image back, ``status`` (done, existing, error) and its
    manifest ``entry``."""
    from salmap.batch.ray import missing_outputs

    root, args, kinds = Path(actor.root), actor.args, actor.params["kinds"]
    items = [
        Input(Path(str(p)), Path(str(s)), None if f < 0 else int(f))
        for p, s, f in zip(batch["path"], batch["stem"], batch["frame"])
    ]
    plans = [output_paths(item.stem, root, kinds) for item in items]
    todo = plans if args.overwrite else missing_outputs(actor.fs, plans)
    work = [i for i, plan in enumerate(todo) if plan]
    entries = {i: entry(items[i], plans[i], root, "existing") for i in range(len(items))}
    job = PredictJob(
        [items[i] for i in work],
        [todo[i] for i in work],
        root,
        actor.params["options"],
        args,
        write=actor.write,
        listed=[plans[i] for i in work],
    )
    lines: dict[int, dict] = {}
    run_items(job, actor.runner, args.batch_size, lines, progress=False)
    entries.update({work[k]: line for k, line in lines.items()})
    return {
        "index": batch["index"],
        "status": [entries[i]["status"] for i in range(len(items))],
        "entry": [json.dumps(entries[i], ensure_ascii=False) for i in range(len(items))],
    }


def predict_on_ray(items, kinds: list[str], options, args, problems=()) -> tuple[int, int, list]:
    """``salmap predict --engine ray``: the images of ``items`` (as the local engine collects
    them) predicted and written under ``args.out`` by Ray actors, with ``manifest.jsonl``.
    Existing outputs are refused, replaced or kept as the local engine does (``--overwrite``,
    ``--skip-existing``). Returns how many images were done, how many kept from an earlier
    run, and why the others were skipped."""
    from functools import partial

    from salmap.batch.ray import connect, on_actors, read_if_there, resolve_filesystem, write_file

    fs, root = resolve_filesystem(args.out)  # a bad URI fails here, before Ray starts
    plans = check_existing(fs, root, items, kinds, args)
    manifest = f"{root}/{MANIFEST}"
    earlier = read_if_there(fs, manifest)
    check_earlier_manifest(manifest, earlier, args.overwrite)
    ray = connect(args.address)
    entries: dict[int, dict] = {}
    try:
        if items:
            rows = [
                {"index": i, "path": str(it.path), "stem": str(it.stem), "frame": frame(it)}
                for i, it in enumerate(items)
            ]
            batches = on_actors(
                ray, rows, predict_rows, args, "predicting", kinds=kinds, options=options
            )
            for batch in batches:
                for i, line in zip(batch["index"], batch["entry"]):
                    entries[int(i)] = json.loads(line)
    finally:
        plans = plans or [output_paths(it.stem, Path(root), kinds) for it in items]
        write = partial(write_file, fs)
        write_manifest(
            manifest, items, plans, Path(root), entries, earlier, problems, args.inputs, write
        )
    statuses = [e["status"] for e in entries.values()]
    failed = sorted(e["error"] for e in entries.values() if e["status"] == "error")
    return statuses.count("done"), statuses.count("existing"), failed


def frame(item) -> int:
    """An Input's frame as a column value: -1 for None (the first, not split by --all-frames)."""
    return -1 if item.frame is None else item.frame


def check_existing(fs, root: str, items, kinds: list[str], args) -> list | None:
    """Refuse existing outputs unless ``--overwrite`` or ``--skip-existing``, as the local
    engine does: for a local folder with its own checks (which give the plans), elsewhere from
    one recursive listing of ``root``."""
    from pyarrow.fs import FileSelector, FileType, LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        return plan_outputs(items, Path(root), kinds, args.overwrite, args.skip_existing)
    if args.overwrite or args.skip_existing:
        return None
    listing = fs.get_file_info(FileSelector(root, recursive=True, allow_not_found=True))
    existing = {i.path for i in listing if i.type == FileType.File}
    targets = (str(p) for it in items for p in output_paths(it.stem, Path(root), kinds).values())
    refuse_existing([t for t in targets if t in existing])
    return None
