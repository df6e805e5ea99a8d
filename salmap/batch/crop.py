"""``salmap crop``'s job: for each image and aspect ratio the window that holds the most
predicted attention, written as a JPEG (and the boxes on the heatmap, with ``preview``), with
``crops.jsonl`` listing the boxes; on the local engine or on Ray.

From Python, :func:`crop_inputs` runs the command's work with its arguments (an
``argparse.Namespace`` as ``salmap crop`` parses it, or any object with those attributes).
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from pathlib import Path

import numpy as np

from salmap.batch.inputs import Input, collect_inputs
from salmap.batch.local import Summary, error_text, run_items
from salmap.batch.manifest import JSONL, crop_lines, jsonl
from salmap.batch.outputs import (
    CROP_FORMATS,
    CropShape,
    check_output_folder,
    crop_plan,
    plan_crops,
)
from salmap.errors import DataError

# Statuses of the rows the Ray actors give back, one per image.
DONE, KEPT, SKIPPED = "done", "kept", "skipped"
# An interrupted Ray job keeps the JSONL lines it had received here (one file per flush);
# the next run reads them, and the finished job folds them into crops.jsonl and removes them.
JOURNAL = ".crops.partial"
JOURNAL_EVERY_S = 30


def write_crops(image, density, windows, plan, args, write=None, scale=None) -> None:
    """Write the crops and preview ``plan`` names (``args``: the crops' ``shape``, a
    CropShape, and the preview's alpha and colormap); ``write(path, data)`` defaults to an
    atomic local write (the Ray engine passes one for any file system). ``scale`` = (sx, sy):
    ``image`` was decoded that much smaller than the image the windows are on (every crop is
    then resized, and there is no preview: see :meth:`CropJob.decoded_side`)."""
    from salmap.cropping import preview
    from salmap.files import atomic_write_bytes
    from salmap.sizing import resized
    from salmap.viz import image_bytes

    write = write or atomic_write_bytes
    shape = crop_shape(args)
    fmt = CROP_FORMATS[shape.ext]
    for aspect, path in plan["crop"].items():
        x0, y0, x1, y1 = box = windows[aspect].box
        size = shape.sizes.get(aspect)
        picture = resized(image, box, size, scale) if size else image[y0:y1, x0:x1]
        write(path, image_bytes(picture, fmt, shape.quality))
    if plan["preview"] is not None:
        figure = preview(image, density, windows, args.alpha, args.colormap)
        write(plan["preview"], image_bytes(figure, "JPEG"))


def crop_shape(args) -> CropShape:
    """The crops' format and sizes ``args`` asks for (JPEG at the window's size by default)."""
    return getattr(args, "shape", None) or CropShape()


def crop_line(path, shape: tuple[int, int], windows, sizes=None) -> dict:
    """The JSONL line of an image of ``shape`` (H, W) cropped to ``windows`` (aspect ->
    Window); ``sizes``: aspect -> (w, h) that a crop was resized to, given as its ``size``."""
    height, width = shape
    crops = {a: w.to_dict() for a, w in windows.items()}
    for a, size in (sizes or {}).items():
        crops[a]["size"] = list(size)
    return {"image": str(path), "width": width, "height": height, "crops": crops}


def _at_size(density: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A smaller map brought to the image's ``size`` (width, height) for the preview."""
    from PIL import Image

    m = np.asarray(Image.fromarray(density).resize(size, Image.BILINEAR))
    return m / max(float(m.sum()), 1e-30)


class CropJob:
    """The engines' job for ``salmap crop``: each of ``items`` searched for its windows of
    ``aspects`` at ``args.zoom`` and written as ``plans`` say; its line is its crops.jsonl
    line. With ``tolerant``, a file that cannot be written makes the image's line an error
    rather than ending the run (the Ray engine's choice)."""

    desc = "cropping"

    def __init__(self, items, plans, aspects, args, write=None, tolerant: bool = False):
        self.items, self.plans, self.aspects, self.args = items, plans, aspects, args
        self.writer, self.tolerant = write, tolerant
        self.detectors = threading.local()  # --keep-faces: OpenCV's detector is per thread

    def read(self, k: int, config):
        """The image and the model's input; the map comes at the image's size, or with
        ``args.map_side`` (the fast map) at that longer side. The file is decoded once: in
        full, since the crops need every pixel, unless every crop is resized to a set size
        (:meth:`decoded_side`); a draft decode for the model alone would only add a second."""
        from salmap.data.images import load_image
        from salmap.inference import read_input

        side = getattr(self.args, "map_side", None)
        if side is None:
            return read_input(self.items[k].path, config)
        image = load_image(self.items[k].path, min_side=self.decoded_side(k, config))
        _, x, geometry = read_input(image, config, max_output_side=side, keep_pixels=False)
        return image, x, geometry

    def decoded_side(self, k: int, config) -> int | None:
        """When every crop of item ``k`` is resized to a set size (``--size``) and nothing
        else needs its pixels (no preview, no face search): the longer side its JPEG need be
        decoded at, as libvips' shrink-on-load does (each crop's window at least its size in
        pixels, and never less than the model reads); else None. The image's size is its
        plan's, read from its header when the outputs were planned."""
        from salmap.cropping import window_size
        from salmap.inference import output_shape, read_side

        sizes = crop_shape(self.args).sizes
        if set(sizes) != set(self.aspects) or self.plans[k]["preview"] is not None:
            return None
        if getattr(self.args, "keep_faces", False):
            return None
        width, height = self.plans[k]["size"]
        zoom = self.args.zoom
        factor = max(
            max(sw / w, sh / h)
            for aspect, (sw, sh) in sizes.items()
            for w, h in [window_size(width, height, aspect, zoom)]
        )
        full = output_shape((height, width), self.args.map_side)
        return max(math.ceil(factor * max(width, height)), read_side(full, (height, width), config))

    def write(self, k: int, image, density) -> dict:
        from salmap.cropping import best_windows
        from salmap.errors import SalmapError

        path = self.items[k].path
        options = getattr(self.args, "framing", None) or {}
        size = tuple(self.plans[k]["size"])  # the image's, however large it was decoded
        decoded = (image.shape[1], image.shape[0])
        scale = None if decoded == size else (decoded[0] / size[0], decoded[1] / size[1])
        on_map = density.shape != image.shape[:2] or scale is not None  # windows on the image
        faces = self.faces(image) if getattr(self.args, "keep_faces", False) else None
        kept = dict.fromkeys(self.aspects, 0)  # faces each crop holds
        try:
            if faces:
                windows, kept = self.windows_with_faces(
                    density, size if on_map else None, options, faces
                )
            else:
                windows = best_windows(
                    density, self.aspects, self.args.zoom, size if on_map else None, **options
                )
        except (SalmapError, DataError) as e:  # a --keep box no window holds; a file gone
            return self.failed(k, f"{path}: {e}")
        if on_map:
            density = _at_size(density, size) if self.plans[k]["preview"] else None
        try:
            write_crops(image, density, windows, self.plans[k], self.args, self.writer, scale)
        except OSError as e:
            if not self.tolerant:
                raise
            return self.failed(k, f"{path}: cannot write its crops ({e})")
        line = crop_line(path, size[::-1], windows, crop_shape(self.args).sizes)
        if faces is not None:
            line["faces"] = [[round(v) for v in face] for face in faces]
            for aspect, n in kept.items():
                line["crops"][aspect]["faces_kept"] = n
        return line

    def faces(self, image) -> list:
        """The frontal faces in ``image``, largest first (:mod:`salmap.faces`)."""
        from salmap.faces import detect_faces, face_cascade

        if getattr(self.detectors, "cascade", None) is None:
            self.detectors.cascade = face_cascade()
        return detect_faces(self.detectors.cascade, image)

    def windows_with_faces(self, density, image_size, options: dict, faces: list) -> tuple:
        """Each aspect's window holding the ``--keep`` boxes and the largest faces that fit
        with them (:func:`salmap.faces.faces_that_fit`), moved to leave the others out whole
        where it can (:func:`salmap.faces.uncut`), and how many faces each holds."""
        from salmap.cropping import best_windows, holds, keep_origins
        from salmap.faces import faces_that_fit, inside, uncut

        keep = list(options.get("keep", ()))
        full = image_size or (density.shape[1], density.shape[0])
        windows, kept = {}, {}
        for aspect in self.aspects:
            boxes = faces_that_fit(
                faces, keep, lambda b, a=aspect: holds(b, full, a, self.args.zoom)
            )
            found = best_windows(
                density, [aspect], self.args.zoom, image_size, **(options | {"keep": boxes})
            )
            left_out = [f for f in faces if f not in boxes]
            origins = keep_origins(boxes, full, aspect, self.args.zoom)
            windows[aspect] = uncut(found[aspect], left_out, origins, density, full)
            kept[aspect] = sum(inside(f, windows[aspect].box) for f in faces)
        return windows, kept

    def failed(self, k: int, message: str) -> dict:
        return {"image": str(self.items[k].path), "error": message}


def crop_inputs(args, aspects: list[str], kinds: list[str]) -> Summary:
    """``salmap crop``'s work once its options are checked: the images ``args.inputs`` name,
    cropped on ``args.engine`` under ``args.out``, with crops.jsonl."""
    out = Path(args.out)
    found = collect_inputs(args.inputs, exclude=None if "://" in args.out else out)
    problems = [{"image": i, "error": m} for i, m in found.problems]  # their lines, last
    engine = crop_on_ray if args.engine == "ray" else crop_locally
    lines, kept = engine(found.items, aspects, kinds, args, problems)
    skipped = [line["error"] for line in lines if "error" in line]
    return Summary(len(lines) - len(skipped), skipped, kept, found.ignored_text())


def crop_locally(items, aspects, kinds, args, problems=()) -> tuple[list[dict], int]:
    """The local engine: the crops.jsonl lines of ``items``, then ``problems``, written, and
    how many images were kept from an earlier run (none: a local run does them all)."""
    from salmap import load_model
    from salmap.files import atomic_write_bytes
    from salmap.inference import make_runner

    out = Path(args.out)
    plans, unreadable = plan_crops(
        items, out, aspects, args.zoom, kinds, args.overwrite, crop_shape(args)
    )
    runner = make_runner(load_model(args.model, runner=args.runner), args.device)
    check_output_folder(out)  # after the model loads: a bad --model leaves no folder behind
    reasons = iter(unreadable)
    lines = [
        None if plan else {"image": str(item.path), "error": next(reasons)}
        for item, plan in zip(items, plans)
    ]
    todo = [i for i, plan in enumerate(plans) if plan]
    done: dict[int, dict] = {}
    job = CropJob([items[i] for i in todo], [plans[i] for i in todo], aspects, args)
    run_items(job, runner, args.batch_size, done)
    for k, line in done.items():
        lines[todo[k]] = line
    lines += problems
    atomic_write_bytes(out / JSONL, jsonl(lines))
    return lines, 0


# --- on Ray ------------------------------------------------------------------------------------


def row_plan(actor, path: str, stem: str, line: str) -> tuple[dict, tuple[int, int]]:
    """The files of one image (``"crop <aspect>"`` and ``"preview"`` -> path) and its size
    (width, height): from its earlier crops.jsonl ``line`` where there is one, else from its
    header."""
    from salmap.data.images import image_size

    if line:  # the earlier run's, for the same aspect ratios (see crop_rows)
        earlier = json.loads(line)
        size = (earlier["width"], earlier["height"])
    else:
        height, width = image_size(path)  # the header only
        size = (width, height)
    params = actor.params
    plan = crop_plan(
        Path(stem),
        Path(actor.root),
        size,
        params["aspects"],
        actor.args.zoom,
        params["kinds"],
        crop_shape(actor.args),
    )
    files = {f"crop {a}": str(p) for a, p in plan["crop"].items()}
    if plan["preview"] is not None:
        files["preview"] = str(plan["preview"])
    return files, size


def crop_rows(actor, batch: dict) -> dict:
    """A Ray actor's share (rows ``path``, ``stem`` and ``line``: the image's crops.jsonl line
    from an earlier run, or ""): an image whose line is known and whose files all exist is
    kept, any other is predicted, searched and its missing files written. Gives back
    ``status`` and the image's JSONL ``line``."""
    from salmap.batch.ray import missing_outputs

    aspects, args = actor.params["aspects"], actor.args
    paths = [str(p) for p in batch["path"]]
    status, lines = [KEPT] * len(paths), [str(x) for x in batch["line"]]
    plans, sizes = {}, {}
    for i, (path, stem, line) in enumerate(zip(paths, batch["stem"], lines)):
        if line and list(json.loads(line)["crops"]) != aspects:
            lines[i] = line = ""  # cropped to other ratios: not this job's line
        try:
            plans[i], sizes[i] = row_plan(actor, path, str(stem), line)
        except DataError as e:
            status[i] = SKIPPED
            lines[i] = json.dumps({"image": path, "error": error_text(path, e)})
    wanted = list(plans.values())
    todo = dict(zip(plans, wanted if args.overwrite else missing_outputs(actor.fs, wanted)))
    work = [i for i in plans if todo[i] or not lines[i]]
    plan = [
        {
            "crop": {a: todo[i][f"crop {a}"] for a in aspects if f"crop {a}" in todo[i]},
            "preview": todo[i].get("preview"),
            "size": sizes[i],
        }
        for i in work
    ]
    items = [Input(Path(paths[i]), Path()) for i in work]
    done: dict[int, dict] = {}
    job = CropJob(items, plan, aspects, args, write=actor.write, tolerant=True)
    run_items(job, actor.runner, args.batch_size, done, progress=False)
    for k, line in done.items():
        status[work[k]] = SKIPPED if "error" in line else DONE
        lines[work[k]] = json.dumps(line)
    return {"path": np.array(paths, dtype=object), "status": status, "line": lines}


def read_lines(fs, paths: list[str]) -> dict[str, str]:
    """Image path -> its JSONL line (without errors) from the files that exist among ``paths``."""
    from pyarrow.fs import FileType

    texts = []
    for info in fs.get_file_info(paths):
        if info.type == FileType.File:
            with fs.open_input_stream(info.path) as f:
                texts += f.read().decode().splitlines()
    return crop_lines(texts)


def crop_on_ray(items, aspects: list[str], kinds: list[str], args, problems=()) -> tuple:
    """``salmap crop --engine ray``: crops of ``items`` written under ``args.out`` by Ray
    actors, and ``crops.jsonl`` written once all are done, ending with the lines of
    ``problems`` (inputs that named no image). Returns the JSONL lines in the order of
    ``items``, then ``problems``, and how many images were kept from an earlier run."""
    from pyarrow.fs import FileSelector

    from salmap.batch.ray import connect, on_actors, resolve_filesystem, write_file

    fs, root = resolve_filesystem(args.out)
    ray = connect(args.address)
    journal = f"{root}/{JOURNAL}"
    known = {}
    if not args.overwrite:
        parts = [i.path for i in fs.get_file_info(FileSelector(journal, allow_not_found=True))]
        known = read_lines(fs, [f"{root}/{JSONL}", *parts])
    rows = [
        {"path": str(it.path), "stem": str(it.stem), "line": known.get(str(it.path), "")}
        for it in items
    ]
    lines, kept, pending, flushed = {}, 0, [], time.monotonic()
    if rows:
        batches = on_actors(ray, rows, crop_rows, args, "cropping", aspects=aspects, kinds=kinds)
        for batch in batches:
            for path, status, line in zip(batch["path"], batch["status"], batch["line"]):
                lines[str(path)] = json.loads(line)
                kept += status == KEPT
                pending += [str(line)] if status == DONE else []
            if pending and time.monotonic() - flushed > JOURNAL_EVERY_S:
                part = f"{journal}/{int(time.time() * 1e3)}-{secrets.token_hex(4)}.jsonl"
                write_file(fs, part, "".join(x + "\n" for x in pending).encode())
                pending, flushed = [], time.monotonic()
    ordered = [lines[str(it.path)] for it in items] + list(problems)
    write_file(fs, f"{root}/{JSONL}", jsonl(ordered))
    if fs.get_file_info(journal).type.name != "NotFound":
        fs.delete_dir(journal)
    return ordered, kept
