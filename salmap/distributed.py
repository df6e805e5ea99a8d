"""Saliency for millions of images on a Ray cluster, with the same maps and files as on one machine.

Ray Data streams the inputs through a pool of model actors (``map_batches`` with a callable
class): each actor loads the model once, reads and decodes its own images, predicts them batch
by batch with :func:`salmap.inference.predict_stream` (the local engine's path, so the maps are
the same) and writes their outputs with the local engine's writers. The driver only lists the
inputs and tallies one small status row per image, so it never holds pixels.

Outputs go to a local folder or to any file system pyarrow reaches by URI (``s3://``, ``gs://``,
``hdfs://``, ``file://``). A rerun with the same output folder does only the images whose
outputs are missing. On a cluster every node must see the inputs and the model at the same
paths (a shared file system) and have salmap installed; Ray itself is the ``salmap[ray]`` extra.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from salmap.errors import DataError, SalmapError

ENGINES = ("local", "ray")
RAY_EXTRA = "pip install 'salmap[ray]'"
# Statuses of the rows the actors give back, one per image.
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
        "--gpus-per-actor", type=float, default=None, help="GPUs per actor, e.g. 1 or 0.5 (default: 0)"
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


def missing_outputs(fs, plans: list[dict[str, str]]) -> list[dict[str, str]]:
    """For each plan (kind -> path), the part whose files do not exist yet (one listing call)."""
    from pyarrow.fs import FileType

    paths = [p for plan in plans for p in plan.values()]
    exists = {i.path for i in fs.get_file_info(paths) if i.type != FileType.NotFound}
    return [{k: p for k, p in plan.items() if p not in exists} for plan in plans]


# --- the actors ------------------------------------------------------------------------------


class Predictor:
    """Ray Data actor: loads the model once, then maps a batch of images to densities.

    Rows hold ``path`` (decoded here, in the actor) or ``image`` (an H x W x 3 array); each row
    gets ``density`` (H x W float32 summing to 1, at the image's resolution) or, for ``output=
    "map"``, ``map`` (H x W uint8, the map PNG's pixels), and ``error`` ("" when all went well;
    a failed row's map is 0 x 0)."""

    def __init__(self, model: str = "default", device: str | None = None, output: str = "density"):
        from salmap.commands.predict import load_runner

        self.runner = load_runner(model, device)
        self.output = output

    def predict(self, images) -> list:
        from salmap.inference import predict_stream

        return [r for _, r in predict_stream(self.runner, images, max(len(images), 1))]

    def __call__(self, batch: dict) -> dict:
        from salmap.commands.predict import map_array

        images = batch["path"] if "path" in batch else batch["image"]
        maps, errors = [], []
        for image, result in zip(images, self.predict(list(images))):
            if isinstance(result, Exception):
                errors.append(message(image, result))
                maps.append(np.zeros((0, 0), np.uint8 if self.output == "map" else np.float32))
            else:
                errors.append("")
                maps.append(map_array(result) if self.output == "map" else result)
        return {**batch, self.output: ragged(maps), "error": np.array(errors, dtype=object)}


class FilePredictor(Predictor):
    """Ray Data actor for ``salmap predict --engine ray``: rows ``path``, ``stem``; predicts the
    images whose outputs are missing under ``out``, writes them and gives back one status row
    per image (``status`` done, kept or skipped, and ``message``)."""

    def __init__(self, model, device, out: str, kinds: list[str], options):
        super().__init__(model, device)
        self.fs, self.root = resolve_filesystem(out)
        self.kinds, self.options = kinds, options

    def __call__(self, batch: dict) -> dict:
        from salmap.commands.predict import output_paths, write_outputs

        paths = [str(p) for p in batch["path"]]
        plans = [
            {k: str(v) for k, v in output_paths(Path(s), Path(self.root), self.kinds).items()}
            for s in batch["stem"]
        ]
        todo = plans if self.options.overwrite else missing_outputs(self.fs, plans)
        status, messages = [KEPT] * len(paths), [""] * len(paths)
        work = [i for i, plan in enumerate(todo) if plan]
        results = self.predict([paths[i] for i in work])
        for i, (image, density) in zip(work, results):
            if isinstance(density, Exception):
                status[i], messages[i] = SKIPPED, message(paths[i], density)
                continue
            try:
                write_outputs(image, density, todo[i], self.options, write=self.write)
                status[i] = DONE
            except OSError as e:
                status[i], messages[i] = SKIPPED, f"{paths[i]}: cannot write its outputs ({e})"
        return {"path": np.array(paths, dtype=object), "status": status, "message": messages}

    def predict(self, images) -> list:
        from salmap.inference import predict_stream

        return list(predict_stream(self.runner, images, max(len(images), 1)))

    def write(self, path: str, data: bytes) -> None:
        write_file(self.fs, path, data)


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


def actor_options(actors: int | None, gpus_per_actor: float | None, ray) -> dict:
    """``map_batches`` arguments for a pool of ``actors`` model actors with their GPUs."""
    gpus = gpus_per_actor or 0
    return {
        "compute": ray.data.ActorPoolStrategy(size=actors or 1),
        "num_gpus": gpus,
        # a CPU actor takes one core (torch then runs one thread); a GPU actor needs little CPU
        "num_cpus": 1,
    }


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
        raise DataError(f"the dataset needs a 'path' or an 'image' column; it has {sorted(columns)}")
    return ds.map_batches(
        Predictor,
        fn_constructor_kwargs={"model": str(model), "device": device, "output": output},
        batch_size=batch_size,
        batch_format="numpy",
        **actor_options(actors, gpus_per_actor, ray),
    )


def predict_files_on_ray(items, kinds: list[str], args) -> tuple[int, int, list[str]]:
    """``salmap predict --engine ray``: the images of ``items`` ((path, output stem) pairs, as
    :func:`salmap.commands.predict.collect_inputs` gives them) predicted and written under
    ``args.out`` by Ray actors. Returns how many were done, how many kept from an earlier run,
    and why the others were skipped."""
    from tqdm import tqdm

    resolve_filesystem(args.out)  # a bad URI fails here, before Ray starts
    ray = connect(args.address)
    if not items:
        return 0, 0, []
    rows = [{"path": str(path), "stem": str(stem)} for path, stem in items]
    results = ray.data.from_items(rows).map_batches(
        FilePredictor,
        fn_constructor_kwargs={
            "model": str(args.model),
            "device": args.device,
            "out": args.out,
            "kinds": kinds,
            "options": args,
        },
        batch_size=args.batch_size,
        batch_format="numpy",
        **actor_options(args.actors, args.gpus_per_actor, ray),
    )
    counts, skipped = {DONE: 0, KEPT: 0}, []
    with tqdm(total=len(rows), desc="predicting", unit="img") as bar:
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            for status, text in zip(batch["status"], batch["message"]):
                if status == SKIPPED:
                    skipped.append(str(text))
                else:
                    counts[status] += 1
            bar.update(len(batch["status"]))
    return counts[DONE], counts[KEPT], sorted(skipped)
