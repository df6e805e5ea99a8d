"""Where each image's outputs go under ``--out``: their names (predict's ``<stem>_map.png``...,
crop's ``<stem>_crop_<W>x<H>.jpg``, or .png, .webp), the plan of one image (kind -> path), and the checks made
before any image is read: an output that is an input, outputs that exist already (refused
unless ``--overwrite`` or ``--skip-existing``), a folder that cannot be written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from salmap.batch.manifest import JSONL
from salmap.errors import DataError, SalmapError

# salmap predict's outputs, and the ones that need the image itself, not only its map
OUTPUTS = ("map", "density", "log-density", "overlay", "side-by-side", "fog")
PIXEL_OUTPUTS = ("overlay", "side-by-side", "fog")
NAMINGS = ("suffix", "image")


def output_paths(
    stem: Path, out: Path, kinds: list[str], naming: str = "suffix"
) -> dict[str, Path]:
    """Where each kind of output of the image with output stem ``stem`` goes under ``out``
    (``naming="image"``: ``<stem>.<ext>``, without the kind's suffix)."""
    return {k: out / f"{stem}{ending}" for k, ending in endings(kinds, naming).items()}


def endings(kinds: list[str], naming: str = "suffix") -> dict[str, str]:
    """What each kind of output adds to the stem: its suffix (none with ``naming="image"``)
    and its extension."""
    from salmap.inference import OUTPUT_EXTENSION, OUTPUT_SUFFIX

    suffix = OUTPUT_SUFFIX if naming == "suffix" else dict.fromkeys(OUTPUT_SUFFIX, "")
    return {k: suffix[k] + OUTPUT_EXTENSION[k] for k in kinds}


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
    names = list(endings(kinds, naming).values())
    if len(set(names)) < len(names):
        raise SalmapError(
            f"--naming {naming}: --save {','.join(kinds)} would write two outputs to one file "
            "name; save one output per extension (.png, .npy, .jpg)"
        )
    plans = [output_paths(item[1], out, kinds, naming) for item in items]
    targets = [target for plan in plans for target in plan.values()]
    refuse_existing(existing_targets(targets, items, overwrite or skip_existing))
    return plans


def existing_targets(targets, items, allowed: bool) -> list[Path]:
    """The ``targets`` (output files) that exist already, unless ``allowed``; an output that is
    one of the ``items``' files is refused here, always."""
    inputs = {Path(item[0]).resolve() for item in items}
    clashes = []
    for target in targets:
        if target.resolve() in inputs:
            raise SalmapError(f"{target} is one of the inputs: choose another --out")
        if target.exists() and not allowed:
            clashes.append(target)
    return clashes


def refuse_existing(clashes: list, resume: bool = True) -> None:
    """The error for outputs that exist already, when neither flag allows them (``resume``:
    the command has ``--skip-existing``)."""
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        hint = "--skip-existing to do only the missing ones, or " if resume else ""
        raise SalmapError(
            f"outputs exist already: {', '.join(map(str, clashes[:3]))}{more}; pass "
            f"{hint}--overwrite to replace them"
        )


def complete(plan: dict[str, Path]) -> bool:
    """Whether every file of ``plan`` exists (``--skip-existing`` leaves the image alone)."""
    return all(p.is_file() for p in plan.values())


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


# --- salmap crop's files -----------------------------------------------------------------------


@dataclass(frozen=True)
class CropShape:
    """How crops are written: ``ext`` (a key of :data:`CROP_FORMATS`), ``quality`` (1-100, JPEG
    and WEBP; None: :data:`salmap.viz.JPEG_QUALITY`) and ``sizes``: aspect -> (w, h) in pixels
    that the window of that aspect is resized to (an aspect not in it keeps the window's size)."""

    ext: str = "jpg"
    quality: int | None = None
    sizes: dict = field(default_factory=dict)


# --format of the crops -> the format PIL writes them in
CROP_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def crop_name(stem: Path, size: tuple[int, int], ext: str = "jpg") -> Path:
    """``<stem>_crop_<W>x<H>.<ext>``."""
    return stem.with_name(f"{stem.name}_crop_{size[0]}x{size[1]}.{ext}")


def preview_name(stem: Path) -> Path:
    return stem.with_name(f"{stem.name}_crops.jpg")


# The names of the files crop_name and preview_name give (for not reading them back as photos).
CROP_FILES = re.compile(r"_crop_\d+x\d+\.(?:jpg|png|webp)$|_crops\.jpg$")


def crop_plan(
    stem: Path, out: Path, size: tuple[int, int], aspects, zoom, kinds, shape=None
) -> dict:
    """The outputs of one image of ``size`` = (width, height): ``{"crop": {aspect: path},
    "preview": path or None, "size": size}``. ``shape`` (a :class:`CropShape`, default JPEG at
    the window's size) says the crops' format and the sizes they are resized to."""
    from salmap.cropping import window_size

    width, height = size
    shape = shape or CropShape()
    plan = {"crop": {}, "preview": None, "size": (width, height)}
    if "crop" in kinds:
        for a in aspects:
            pixels = shape.sizes.get(a) or window_size(width, height, a, zoom)
            plan["crop"][a] = out / crop_name(stem, pixels, shape.ext)
    if "preview" in kinds:
        plan["preview"] = out / preview_name(stem)
    return plan


def crop_files(plan: dict) -> list[Path]:
    """The files of a :func:`crop_plan`: its crops, then its preview where there is one."""
    return [*plan["crop"].values(), *([plan["preview"]] if plan["preview"] else [])]


def plan_crops(
    items, out: Path, aspects, zoom, kinds, overwrite, shape=None
) -> tuple[list, list[str]]:
    """For each readable item, its outputs: ``{"crop": {aspect: path}, "preview": path}`` (the
    crop sizes follow from the image's size, read from its header); ``None`` for an item that
    cannot be read, whose reason is in the second list. Outputs that exist already (and the
    JSONL) are refused unless ``overwrite``, outputs that are inputs always."""
    from salmap.data.images import image_size

    plans, unreadable = [], []
    targets = [out / JSONL]
    for path, stem, _ in items:  # (path, output stem, frame) from collect_inputs
        try:
            height, width = image_size(path)
        except DataError as e:
            plans.append(None)
            unreadable.append(str(e))
            continue
        plan = crop_plan(stem, out, (width, height), aspects, zoom, kinds, shape)
        plans.append(plan)
        targets += crop_files(plan)
    # two ratios may give the same size, hence file
    clashes = existing_targets(dict.fromkeys(targets), items, overwrite)
    refuse_existing(clashes, resume=False)
    return plans, unreadable
