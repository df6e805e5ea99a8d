"""Saliency for millions of images on a Ray cluster, with the same maps and files as on one machine.

Ray Data streams the inputs through a pool of model actors (``map_batches`` with a callable
class): each actor loads the model once, reads and decodes its own images, predicts them batch
by batch with :func:`salmap.inference.predict_stream` (the local engine's path, so the maps are
the same) and writes their outputs with the local engine's writers. The driver only lists the
inputs and gathers one small row per image (its manifest or crops.jsonl line), so it never
holds pixels.

Outputs go to a local folder or to any file system pyarrow reaches by URI (``s3://``, ``gs://``,
``hdfs://``, ``file://``). A rerun with the same output folder does only the images whose
outputs are missing (``salmap predict --skip-existing`` as locally; ``salmap crop`` by itself).
On a cluster every node must see the inputs and the model at the same
paths (a shared file system) and have salmap installed; Ray itself is the ``salmap[ray]`` extra.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from functools import partial
from pathlib import Path

import numpy as np

from salmap.errors import DataError, SalmapError

ENGINES = ("local", "ray")
RAY_EXTRA = "pip install 'salmap[ray]'"
# cores a model actor asks Ray for, and the threads its model then runs on
CPUS_PER_ACTOR = 1
# Statuses of the rows the crop actors give back, one per image.
DONE, KEPT, SKIPPED = "done", "kept", "skipped"


def add_engine_arguments(p) -> None:
    """The engine flags shared by ``salmap predict`` and ``salmap crop``."""
    g = p.add_argument_group("engine (Ray: see 'Scale out' in the README)")
    g.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process; ray: a Ray cluster (a local one is started when none is given)",
    )
    g.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: 'auto' (the one `ray start` made on this node) or ray://HOST:PORT",
    )
    g.add_argument("--actors", type=int, default=None, help="model actors (default: 1)")
    g.add_argument(
        "--gpus-per-actor",
        type=float,
        default=None,
        help="GPUs per actor, e.g. 1 or 0.5 (default: 0)",
    )


def check_engine_arguments(args) -> None:
    """Refuse Ray-only flags with the local engine and impossible values, before any work."""
    ray_only = [
        f"--{name.replace('_', '-')}"
        for name in ("address", "actors", "gpus_per_actor")
        if getattr(args, name) is not None
    ]
    if args.engine == "local" and ray_only:
        raise SalmapError(f"{', '.join(ray_only)} only apply with --engine ray")
    if args.engine == "local" and "://" in args.out:
        raise SalmapError(f"--out {args.out}: a URI needs --engine ray; give a folder otherwise")
    if args.actors is not None and args.actors < 1:
        raise SalmapError(f"--actors must be at least 1, got {args.actors}")
    if args.gpus_per_actor is not None and args.gpus_per_actor < 0:
        raise SalmapError(f"--gpus-per-actor cannot be negative, got {args.gpus_per_actor}")
    if args.batch_size < 1:
        raise SalmapError(f"--batch-size must be at least 1, got {args.batch_size}")


def import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise SalmapError(f"the Ray engine needs Ray: {RAY_EXTRA}") from None
    return ray


def connect(address: str | None = None):
    """Join the Ray cluster at ``address`` ('auto', ray://HOST:PORT), or start a local one;
    a Ray already initialised in this process (a notebook, a test) is used as it is."""
    ray = import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as e:
            where = address or "this machine"
            raise SalmapError(
                f"no Ray cluster at {where} ({e}); start one with `ray start --head`, "
                "or leave --address out for a local one"
            ) from None
    ray.data.DataContext.get_current().enable_progress_bars = False  # salmap shows its own
    return ray


# --- file systems ----------------------------------------------------------------------------


def resolve_filesystem(out: str):
    """``(pyarrow file system, root path in it)`` for a local folder or a URI such as
    ``s3://bucket/maps`` (credentials come from the environment of each node)."""
    import pyarrow.fs as pafs

    if "://" not in out:
        return pafs.LocalFileSystem(), str(Path(out).resolve())
    try:
        return pafs.FileSystem.from_uri(out)
    except Exception as e:  # pyarrow raises ArrowInvalid, ValueError or OSError by scheme
        raise SalmapError(f"--out {out}: not a file system pyarrow can open ({e})") from None


def write_file(fs, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` on ``fs`` so that no half-written file is ever visible:
    locally by a rename, on object stores by their all-or-nothing upload, elsewhere through a
    temporary file moved into place."""
    from pyarrow.fs import LocalFileSystem

    from salmap.files import atomic_write_bytes

    if isinstance(fs, LocalFileSystem):
        atomic_write_bytes(Path(path), data)
        return
    parent, name = os.path.split(path)
    fs.create_dir(parent, recursive=True)
    if fs.type_name in ("s3", "gcs"):  # an object appears only once its upload completes
        with fs.open_output_stream(path) as f:
            f.write(data)
        return
    tmp = f"{parent}/.{name}.{secrets.token_hex(8)}.tmp"
    try:
        with fs.open_output_stream(tmp) as f:
            f.write(data)
        fs.move(tmp, path)
    finally:
        if fs.get_file_info(tmp).type.name != "NotFound":
            fs.delete_file(tmp)


def read_if_there(fs, path: str) -> bytes | None:
    """The bytes of the file ``path`` on ``fs``, or None where there is none."""
    from pyarrow.fs import FileType

    if fs.get_file_info(path).type != FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read()


def missing_outputs(fs, plans: list[dict]) -> list[dict]:
    """For each plan (kind -> path), the part whose files do not exist yet (one listing call)."""
    from pyarrow.fs import FileType

    paths = [p for plan in plans for p in plan.values()]
    infos = fs.get_file_info([str(p) for p in paths])
    exists = {p for p, i in zip(paths, infos) if i.type != FileType.NotFound}
    return [{k: p for k, p in plan.items() if p not in exists} for plan in plans]


# --- the actors ------------------------------------------------------------------------------


class Predictor:
    """Ray Data actor: loads the model once, then maps a batch of images to densities.

    Rows hold ``path`` (decoded here, in the actor) or ``image`` (an H x W x 3 array); each row
    gets ``density`` (H x W float32 summing to 1, at the image's resolution) or, for ``output=
    "map"``, ``map`` (H x W uint8, the map PNG's pixels), and ``error`` ("" when all went well;
    a failed row's map is 0 x 0)."""

    def __init__(
        self, model="default", runner=None, device=None, output: str = "density", threads=None
    ):
        from salmap import load_model
        from salmap.inference import make_runner

        loaded = load_model(model, runner=runner)
        if threads:  # in a Ray actor: its share of the cores (actor_options passes it)
            limit_threads(loaded, threads)
        self.runner = make_runner(loaded, device)
        self.output = output

    def predict(self, images) -> list:
        """``(rgb, density)`` or ``(None, error)`` per image, as the local engine's stream."""
        from salmap.inference import predict_stream

        return list(predict_stream(self.runner, images, max(len(images), 1)))

    def __call__(self, batch: dict) -> dict:
        from salmap.commands.predict import map_array

        images = batch["path"] if "path" in batch else batch["image"]
        maps, errors = [], []
        for image, (_, result) in zip(images, self.predict(list(images))):
            if isinstance(result, Exception):
                errors.append(message(image, result))
                maps.append(np.zeros((0, 0), np.uint8 if self.output == "map" else np.float32))
            else:
                errors.append("")
                maps.append(map_array(result) if self.output == "map" else result)
        return {**batch, self.output: ragged(maps), "error": np.array(errors, dtype=object)}


class FilePredictor(Predictor):
    """Ray Data actor for ``salmap predict --engine ray``: rows ``index``, ``path``, ``stem``,
    ``frame``;
    runs the local engine (:func:`salmap.commands.predict.predict_files`) on the images of a
    batch whose outputs under ``out`` are missing (all of them with ``--overwrite``) and gives
    back one row per image: ``status`` (done, existing, error) and its manifest ``entry``."""

    def __init__(
        self, model, runner, device, out: str, kinds: list[str], options, args, threads=None
    ):
        super().__init__(model, runner, device, threads=threads)
        self.fs, self.root = resolve_filesystem(out)
        self.kinds, self.options, self.args = kinds, options, args

    def __call__(self, batch: dict) -> dict:
        from salmap.commands.predict import Input, _entry, output_paths, predict_files

        root = Path(self.root)
        items = [
            Input(Path(str(p)), Path(str(s)), None if f < 0 else int(f))
            for p, s, f in zip(batch["path"], batch["stem"], batch["frame"])
        ]
        plans = [output_paths(item.stem, root, self.kinds) for item in items]
        todo = plans if self.args.overwrite else missing_outputs(self.fs, plans)
        work = [i for i, plan in enumerate(todo) if plan]
        entries = {i: _entry(items[i], plans[i], root, "existing") for i in range(len(items))}

        def record(k: int, status: str, error=None, note=None) -> None:
            i = work[k]
            entries[i] = _entry(items[i], plans[i], root, status, error, note)

        predict_files(
            [items[i] for i in work],
            [todo[i] for i in work],
            self.runner,
            self.options,
            self.args,
            progress=False,
            entries=record,
            write=self.write,
        )
        return {
            "index": batch["index"],
            "status": [entries[i]["status"] for i in range(len(items))],
            "entry": [json.dumps(entries[i], ensure_ascii=False) for i in range(len(items))],
        }

    def write(self, path, data: bytes) -> None:
        write_file(self.fs, str(path), data)


def frame(item) -> int:
    """An Input's frame as a column value: -1 for None (the first, not split by --all-frames)."""
    return -1 if item.frame is None else item.frame


class CropPredictor(FilePredictor):
    """Ray Data actor for ``salmap crop --engine ray``: rows ``path``, ``stem`` and ``line``
    (the image's JSONL line from an earlier run, or ""); an image whose line is known and whose
    files all exist is kept, any other is predicted, searched and its missing files written.
    Gives back ``status``, ``message`` and the image's JSONL ``line``."""

    def __init__(
        self,
        model,
        runner,
        device,
        out: str,
        aspects: list[str],
        kinds: list[str],
        args,
        threads=None,
    ):
        super().__init__(model, runner, device, out, kinds, None, args, threads)
        self.aspects = aspects

    def plan(self, path: str, stem: str, line: str) -> dict:
        from salmap.commands.crop import crop_plan
        from salmap.data.images import image_size

        if line:  # the earlier run's, for the same aspect ratios (see __call__)
            earlier = json.loads(line)
            size = (earlier["width"], earlier["height"])
        else:
            height, width = image_size(path)  # the header only
            size = (width, height)
        plan = crop_plan(
            Path(stem), Path(self.root), size, self.aspects, self.args.zoom, self.kinds
        )
        files = {f"crop {a}": str(p) for a, p in plan["crop"].items()}
        if plan["preview"] is not None:
            files["preview"] = str(plan["preview"])
        return files

    def __call__(self, batch: dict) -> dict:
        from salmap.commands.crop import crop_line, write_crops
        from salmap.cropping import best_window

        paths = [str(p) for p in batch["path"]]
        n = len(paths)
        status, messages, lines = [KEPT] * n, [""] * n, [str(x) for x in batch["line"]]
        plans = {}
        for i, (path, stem, line) in enumerate(zip(paths, batch["stem"], lines)):
            if line and list(json.loads(line)["crops"]) != self.aspects:
                lines[i] = line = ""  # cropped to other ratios: not this job's line
            try:
                plans[i] = self.plan(path, str(stem), line)
            except DataError as e:
                status[i], messages[i] = SKIPPED, message(path, e)
        wanted = list(plans.values())
        todo = dict(zip(plans, wanted if self.args.overwrite else missing_outputs(self.fs, wanted)))
        work = [i for i in plans if todo[i] or not lines[i]]
        for i, (image, density) in zip(work, self.predict([paths[i] for i in work])):
            if isinstance(density, Exception):
                status[i], messages[i] = SKIPPED, message(paths[i], density)
                continue
            windows = {a: best_window(density, a, self.args.zoom) for a in self.aspects}
            missing = todo[i]
            plan = {
                "crop": {a: missing[f"crop {a}"] for a in self.aspects if f"crop {a}" in missing},
                "preview": missing.get("preview"),
            }
            try:
                write_crops(image, density, windows, plan, self.args, write=self.write)
            except OSError as e:
                status[i], messages[i] = SKIPPED, f"{paths[i]}: cannot write its crops ({e})"
                continue
            status[i], lines[i] = DONE, json.dumps(crop_line(paths[i], density, windows))
        for i in range(n):
            if status[i] == SKIPPED:
                lines[i] = json.dumps({"image": paths[i], "error": messages[i]})
        return {
            "path": np.array(paths, dtype=object),
            "status": status,
            "message": messages,
            "line": lines,
        }


def message(image, error: Exception) -> str:
    """The error, naming the file when the image was one (as the local engine reports it)."""
    text = str(error)
    if isinstance(image, (str, os.PathLike)) and str(image) not in text:
        return f"{image}: {text}"
    return text


def ragged(arrays: list[np.ndarray]) -> np.ndarray:
    """A column of arrays of different shapes, as Ray Data takes it (a 1-D object array)."""
    column = np.empty(len(arrays), dtype=object)
    column[:] = arrays
    return column


def limit_threads(model, threads: int) -> None:
    """Let the model's CPU work use ``threads`` threads: the actor's share of the node's cores.
    torch heeds the OMP_NUM_THREADS Ray sets in an actor, onnxruntime does not: without this,
    each of N actors on an N-core node would start N threads."""
    if hasattr(model, "session"):
        model.use_threads(threads)
    else:
        import torch

        torch.set_num_threads(threads)


def actor_options(actors: int | None, gpus_per_actor: float | None, ray, constructor: dict) -> dict:
    """``map_batches`` arguments for a pool of ``actors`` model actors with their GPUs, each
    built with ``constructor`` (its keyword arguments) and the threads it may use."""
    gpus = gpus_per_actor or 0
    return {
        "compute": ray.data.ActorPoolStrategy(size=actors or 1),
        "num_gpus": gpus,
        # a CPU actor takes one core and runs one thread; a GPU actor needs little CPU
        "num_cpus": CPUS_PER_ACTOR,
        "fn_constructor_kwargs": {**constructor, "threads": CPUS_PER_ACTOR},
    }


def on_actors(ray, rows: list[dict], actor, args, desc: str, **kwargs):
    """``rows`` through a pool of ``actor`` (a :class:`Predictor` built with the command's
    ``--model``, ``--runner``, ``--device`` and ``--out``, plus ``kwargs``), ``--batch-size``
    rows a call, with a progress bar: yields the result batches (dicts of numpy columns)."""
    from tqdm import tqdm

    results = ray.data.from_items(rows).map_batches(
        actor,
        batch_size=args.batch_size,
        batch_format="numpy",
        **actor_options(
            args.actors,
            args.gpus_per_actor,
            ray,
            {
                "model": str(args.model),
                "runner": args.runner,
                "device": args.device,
                "out": args.out,
                "args": args,
                **kwargs,
            },
        ),
    )
    with tqdm(total=len(rows), desc=desc, unit="img") as bar:
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            yield batch
            bar.update(len(next(iter(batch.values()))))


# --- entry points ----------------------------------------------------------------------------


def predict_dataset(
    ds,
    model: str = "default",
    *,
    output: str = "density",
    batch_size: int = 8,
    actors: int | None = None,
    gpus_per_actor: float | None = None,
    device: str | None = None,
):
    """Map a ``ray.data.Dataset`` of images to one with their saliency, lazily, as Ray Data does.

    Each row needs ``path`` (a file every node can read; decoded in the actors) or ``image``
    (H x W x 3 uint8, as ``ray.data.read_images`` gives). The result has the input's columns
    plus ``density`` (H x W float32 summing to 1 at the image's resolution; ``output="map"``:
    ``map``, H x W uint8 with its peak at 255) and ``error`` ("" when fine; an unreadable
    image gets its reason and a 0 x 0 map, and the dataset goes on)::

        ds = ray.data.read_images("s3://bucket/photos/", mode="RGB")
        salmap.distributed.predict_dataset(ds, actors=4, gpus_per_actor=1).write_parquet(...)
    """
    ray = import_ray()
    if output not in ("density", "map"):
        raise SalmapError(f"output must be 'density' or 'map', got {output!r}")
    columns = set(ds.columns() or [])
    if not columns & {"path", "image"}:
        raise DataError(
            f"the dataset needs a 'path' or an 'image' column; it has {sorted(columns)}"
        )
    return ds.map_batches(
        Predictor,
        batch_size=batch_size,
        batch_format="numpy",
        **actor_options(
            actors, gpus_per_actor, ray, {"model": str(model), "device": device, "output": output}
        ),
    )


def predict_files_on_ray(
    items, kinds: list[str], options, args, problems=()
) -> tuple[int, int, list[str]]:
    """``salmap predict --engine ray``: the images of ``items`` (:class:`~salmap.commands.
    predict.Input`, as the local engine collects them) predicted and written under ``args.out``
    by Ray actors, with ``manifest.jsonl``. Existing outputs are refused, replaced or kept as
    the local engine does (``--overwrite``, ``--skip-existing``). Returns how many images were
    done, how many kept from an earlier run, and why the others were skipped."""

    from salmap.commands.predict import (
        MANIFEST,
        check_earlier_manifest,
        output_paths,
        write_manifest,
    )

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
                ray, rows, FilePredictor, args, "predicting", kinds=kinds, options=options
            )
            for batch in batches:
                for i, entry in zip(batch["index"], batch["entry"]):
                    entries[int(i)] = json.loads(entry)
    finally:
        plans = plans or [output_paths(it.stem, Path(root), kinds) for it in items]
        write = partial(write_file, fs)
        write_manifest(
            manifest, items, plans, Path(root), entries, earlier, problems, args.inputs, write
        )
    statuses = [e["status"] for e in entries.values()]
    failed = sorted(e["error"] for e in entries.values() if e["status"] == "error")
    return statuses.count("done"), statuses.count("existing"), failed


def check_existing(fs, root: str, items, kinds: list[str], args) -> list | None:
    """Refuse existing outputs unless ``--overwrite`` or ``--skip-existing``, as the local
    engine does: for a local folder with its own checks (which give the plans), elsewhere from
    one recursive listing of ``root``."""
    from pyarrow.fs import FileSelector, FileType, LocalFileSystem

    from salmap.commands.predict import output_paths, plan_outputs, refuse_existing

    if isinstance(fs, LocalFileSystem):
        return plan_outputs(items, Path(root), kinds, args.overwrite, args.skip_existing)
    if args.overwrite or args.skip_existing:
        return None
    listing = fs.get_file_info(FileSelector(root, recursive=True, allow_not_found=True))
    existing = {i.path for i in listing if i.type == FileType.File}
    targets = (str(p) for it in items for p in output_paths(it.stem, Path(root), kinds).values())
    refuse_existing([t for t in targets if t in existing])
    return None


# An interrupted crop job keeps the JSONL lines it had received here (one file per flush);
# the next run reads them, and the finished job folds them into crops.jsonl and removes them.
JOURNAL = ".crops.partial"
JOURNAL_EVERY_S = 30


def read_lines(fs, paths: list[str]) -> dict[str, str]:
    """Image path -> its JSONL line (without errors) from the files that exist among ``paths``;
    a line that does not parse (a crash in the middle of a write elsewhere) is ignored."""
    from pyarrow.fs import FileType

    known = {}
    for info in fs.get_file_info(paths):
        if info.type != FileType.File:
            continue
        with fs.open_input_stream(info.path) as f:
            for text in f.read().decode().splitlines():
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if isinstance(line, dict) and "crops" in line:
                    known[line["image"]] = text
    return known


def crop_files_on_ray(
    items, aspects: list[str], kinds: list[str], args, problems=()
) -> tuple[list[dict], int]:
    """``salmap crop --engine ray``: crops of ``items`` ((path, output stem) pairs) written under
    ``args.out`` by Ray actors, and ``crops.jsonl`` written once all are done, ending with the
    lines of ``problems`` (inputs that named no image). Returns the JSONL lines in the order of
    ``items``, then ``problems``, and how many images were kept from an earlier run."""
    from pyarrow.fs import FileSelector

    from salmap.commands.crop import JSONL, jsonl

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
        batches = on_actors(
            ray, rows, CropPredictor, args, "cropping", aspects=aspects, kinds=kinds
        )
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
