"""``salmap predict INPUT... --out DIR``: saliency maps for any images, batched, on CPU or GPU.

Inputs are files, folders (searched recursively for images) or glob patterns. Outputs mirror
the input tree under ``--out``: for ``photos/a/b.jpg`` given as ``photos``, ``DIR/a/b_map.png``,
``DIR/a/b_overlay.jpg``... Existing outputs are refused unless ``--overwrite``; inputs are never
overwritten; every file is written atomically. Unreadable images are reported and skipped, and
the command exits with status 1 when anything was skipped.
"""

from __future__ import annotations

import glob
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from salmap.errors import SalmapError

OUTPUTS = ("map", "density", "log-density", "overlay", "side-by-side")
NAMINGS = ("suffix", "image")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="saliency maps for images, files or folders",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns"
    )
    p.add_argument(
        "--model", default="default", help="'default', a model folder, .safetensors or .onnx"
    )
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
        "--colormap", default=None, help="matplotlib colormap for heatmaps (default: inferno)"
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="heatmap opacity at the most salient point, 0-1 (default: 0.7)",
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when present)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier run")
    p.set_defaults(run=run)


def collect_inputs(inputs: list[str]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(image path, output stem relative to --out) for every input image, and problems."""
    from salmap.data.images import is_image_file

    found, problems = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            images = sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            if not images:
                problems.append(f"{p}: no images in this folder")
            found += [(f, f.relative_to(p).with_suffix("")) for f in images]
        elif p.is_file():
            found.append((p, Path(p.stem)))
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            base = Path(item.split("*")[0].split("?")[0].split("[")[0])
            base = base if base.is_dir() else base.parent
            if not matches:
                problems.append(f"{item}: no file matches")
            found += [
                (m, m.relative_to(base).with_suffix("") if m.is_relative_to(base) else Path(m.stem))
                for m in matches
            ]
        else:
            problems.append(f"{item}: no such file or folder")
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
        unique.append((path, stem))
    return unique, problems


def plan_outputs(
    items, out: Path, kinds: list[str], overwrite: bool, naming: str = "suffix"
) -> list[dict[str, Path]]:
    from salmap.inference import OUTPUT_EXTENSION, OUTPUT_SUFFIX

    suffix = OUTPUT_SUFFIX if naming == "suffix" else dict.fromkeys(OUTPUT_SUFFIX, "")
    endings = [suffix[k] + OUTPUT_EXTENSION[k] for k in kinds]
    if len(set(endings)) < len(endings):
        raise SalmapError(
            f"--naming {naming}: --save {','.join(kinds)} would write two outputs to one file "
            "name; save one output per extension (.png, .npy, .jpg)"
        )
    inputs = {p.resolve() for p, _ in items}
    plans, clashes = [], []
    for _, stem in items:
        plan = {k: out / f"{stem}{suffix[k]}{OUTPUT_EXTENSION[k]}" for k in kinds}
        for target in plan.values():
            if target.resolve() in inputs:
                raise SalmapError(f"{target} is one of the inputs: choose another --out")
            if target.exists() and not overwrite:
                clashes.append(target)
        plans.append(plan)
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise SalmapError(
            f"outputs exist already: {', '.join(map(str, clashes[:3]))}{more}; pass --overwrite to replace them"
        )
    return plans


def write_outputs(image: np.ndarray, density: np.ndarray, plan: dict[str, Path], args) -> None:
    import io

    from PIL import Image

    from salmap.files import atomic_write_bytes
    from salmap.metrics import density_to_log
    from salmap.viz import DEFAULT_ALPHA, DEFAULT_COLORMAP, heatmap_rgb, overlay

    def log_density(d: np.ndarray) -> np.ndarray:
        # float32 cannot hold exp of the most negative values: floor the mass at float32's tiny
        return density_to_log(np.maximum(d, np.finfo(np.float32).tiny)).astype(np.float32)

    cmap = args.colormap or DEFAULT_COLORMAP
    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha

    def png(array, fmt="PNG", **kw) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, format=fmt, **kw)
        return buf.getvalue()

    for kind, path in plan.items():
        if kind in ("density", "log-density"):
            buf = io.BytesIO()
            if kind == "log-density":  # natural log, pysaliency's and DeepGaze's format
                np.save(buf, log_density(density))
            else:
                np.save(buf, density.astype(np.float32))
            data = buf.getvalue()
        elif kind == "map":
            top = 65535 if args.bits == 16 else 255
            scaled = np.round(density / max(float(density.max()), 1e-30) * top)
            data = png(scaled.astype(np.uint16 if args.bits == 16 else np.uint8))
        elif kind == "overlay":
            data = png(overlay(image, density, alpha, cmap), "JPEG", quality=92)
        else:
            side = np.concatenate([image, heatmap_rgb(density, cmap)], axis=1)
            data = png(side, "JPEG", quality=92)
        atomic_write_bytes(path, data)


def run(args) -> int:
    from salmap import load_model
    from salmap.inference import TorchRunner

    kinds = [k.strip() for k in args.save.split(",") if k.strip()]
    bad = [k for k in kinds if k not in OUTPUTS]
    if bad or not kinds:
        raise SalmapError(f"--save takes {', '.join(OUTPUTS)}; got {args.save!r}")
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise SalmapError("--alpha must be between 0 and 1")
    items, skipped = collect_inputs(args.inputs)
    out = Path(args.out)
    plans = plan_outputs(items, out, kinds, args.overwrite, args.naming)
    model = load_model(args.model)
    runner = model if hasattr(model, "session") else TorchRunner(model, args.device)
    done, failed = predict_files(items, plans, runner, args)
    skipped += failed
    print(f"{done} image(s) done, {len(skipped)} skipped; outputs in {out}")
    for reason in skipped:
        print(f"  skipped: {reason}", file=sys.stderr)
    return 1 if skipped else 0


def predict_files(items, plans, runner, args, progress: bool = True) -> tuple[int, list[str]]:
    """Predict every image of ``items`` and write its outputs as ``plans`` say (decoding and
    writing in 2 threads). Returns how many were done and why the others were skipped."""
    from tqdm import tqdm

    from salmap.inference import predict_stream

    done, skipped, writes = 0, [], []
    with (
        ThreadPoolExecutor(2) as pool,
        tqdm(total=len(items), desc="predicting", unit="img", disable=not progress) as bar,
    ):
        results = predict_stream(runner, [path for path, _ in items], args.batch_size, pool)
        for (path, _), plan, (image, result) in zip(items, plans, results):
            if isinstance(result, Exception):
                message = str(result)
                skipped.append(message if str(path) in message else f"{path}: {message}")
            else:
                writes.append(pool.submit(write_outputs, image, result, plan, args))
                done += 1
                if len(writes) > 2 * args.batch_size:  # bound the images held in memory
                    writes.pop(0).result()
            bar.update(1)
        for w in writes:
            w.result()
    return done, skipped
