"""The Ray engine: saliency for millions of images on a Ray cluster, with the same maps and
files as on one machine.

Ray Data streams the rows (one per image) through a pool of model actors (``map_batches`` with
a callable class): each actor loads the model once, then hands each batch of rows to the job's
function (:func:`salmap.batch.predict.predict_rows`, :func:`salmap.batch.crop.crop_rows`),
which runs the local engine on it: the maps and files are the local engine's. The driver only
lists the inputs and gathers one small row per image (its manifest or crops.jsonl line), so it
never holds pixels. :func:`predict_dataset` maps any ``ray.data.Dataset`` of images.

Outputs go to a local folder or to any file system pyarrow reaches by URI (``s3://``, ``gs://``,
``hdfs://``, ``file://``). A rerun with the same output folder does only the images whose
outputs are missing (``salmap predict --skip-existing`` as locally; ``salmap crop`` by itself).
On a cluster every node must see the inputs and the model at the same
paths (a shared file system) and have salmap installed; Ray itself is the ``salmap[ray]`` extra.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from salmap.batch.local import error_text
from salmap.errors import DataError, SalmapError

ENGINES = ("local", "ray")
RAY_EXTRA = "pip install 'salmap[ray]'"
# cores a model actor asks Ray for, and the threads its model then runs on
CPUS_PER_ACTOR = 1


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

    def __call__(self, batch: dict) -> dict:
        from salmap.inference import predict_stream
        from salmap.viz import map_array

        images = batch["path"] if "path" in batch else batch["image"]
        results = predict_stream(self.runner, list(images), max(len(images), 1))
        maps, errors = [], []
        for image, (_, result) in zip(images, results):
            if isinstance(result, Exception):
                errors.append(error_text(image, result))
                maps.append(np.zeros((0, 0), np.uint8 if self.output == "map" else np.float32))
            else:
                errors.append("")
                maps.append(map_array(result) if self.output == "map" else result)
        return {**batch, self.output: ragged(maps), "error": np.array(errors, dtype=object)}


class JobActor(Predictor):
    """Ray Data actor for a command's job: ``work(actor, batch)`` (a module-level function,
    such as :func:`salmap.batch.predict.predict_rows`) maps each batch of rows to result
    rows, with the actor's ``runner``, ``args`` (the command's), ``params`` (the job's keyword
    arguments), the output file system ``fs`` and its ``root``, and :meth:`write`."""

    def __init__(self, model, runner, device, out: str, args, work, threads=None, **params):
        super().__init__(model, runner, device, threads=threads)
        self.fs, self.root = resolve_filesystem(out)
        self.args, self.work, self.params = args, work, params

    def __call__(self, batch: dict) -> dict:
        return self.work(self, batch)

    def write(self, path, data: bytes) -> None:
        write_file(self.fs, str(path), data)


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


def on_actors(ray, rows: list[dict], work, args, desc: str, **params):
    """``rows`` through a pool of :class:`JobActor` running ``work`` (built with the command's
    ``--model``, ``--runner``, ``--device`` and ``--out``, plus ``params``), ``--batch-size``
    rows a call, with a progress bar: yields the result batches (dicts of numpy columns)."""
    from tqdm import tqdm

    constructor = {
        "model": str(args.model),
        "runner": args.runner,
        "device": args.device,
        "out": args.out,
        "args": args,
        "work": work,
        **params,
    }
    results = ray.data.from_items(rows).map_batches(
        JobActor,
        batch_size=args.batch_size,
        batch_format="numpy",
        **actor_options(args.actors, args.gpus_per_actor, ray, constructor),
    )
    with tqdm(total=len(rows), desc=desc, unit="img") as bar:
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            yield batch
            bar.update(len(next(iter(batch.values()))))


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
        salmap.batch.ray.predict_dataset(ds, actors=4, gpus_per_actor=1).write_parquet(...)
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
