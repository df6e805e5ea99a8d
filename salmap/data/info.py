"""``salmap datasets info``: what a dataset holds and every problem found in it."""

from __future__ import annotations

from collections import Counter

import numpy as np
from PIL import Image

from salmap.data.base import SaliencyDataset
from salmap.errors import DataError


def summarize(dataset: SaliencyDataset, check: bool = True, progress=None) -> dict:
    """Counts, categories, sizes, fixations per image and problems, as a plain dict.

    With ``check`` every sample is decoded (image, map, fixations), so unreadable, truncated
    or mismatched files show up as problems; without it only file headers are read.
    """
    problems = list(dataset.problems)
    sizes, modes = Counter(), Counter()
    fix_counts, dropped, subjects = [], 0, set()
    indices = range(len(dataset))
    for i in progress(indices) if progress else indices:
        rec = dataset.records[i]
        try:
            with Image.open(rec.image) as im:
                modes[im.mode] += 1
            h, w = dataset.image_size(i)
            sizes[(w, h)] += 1
            if check:
                sample = dataset.sample(i, density=False)
                fix, subj, n_out = sample["fixations"], sample["subjects"], sample["dropped"]
            else:
                fix, subj, n_out = dataset.fixations_inside(i, (h, w))
        except (DataError, OSError, ValueError) as e:
            problems.append(str(e) if str(rec.image) in str(e) else f"{rec.image}: {e}")
            continue
        if fix is not None:
            fix_counts.append(len(fix))
            dropped += n_out
            if n_out:
                problems.append(f"{rec.image}: {n_out} fixation(s) outside the image, dropped")
            if len(fix) == 0:
                problems.append(f"{rec.image}: no fixation inside the image")
        if subj is not None:
            subjects.update(np.unique(subj).tolist())
    cats = Counter(c for c in dataset.categories if c is not None)
    return {
        "format": dataset.format,
        "root": str(dataset.root),
        "images": len(dataset),
        "categories": dict(sorted(cats.items())),
        "subjects": getattr(dataset, "n_subjects", len(subjects) or None),
        "image_sizes": {f"{w}x{h}": n for (w, h), n in sizes.most_common()},
        "image_modes": dict(modes.most_common()),
        "fixations": _describe_counts(fix_counts),
        "fixations_dropped_outside": dropped,
        "split": {name: len(dataset.split(name)) for name in ("train", "val")},
        "near_duplicates": [list(g) for g in dataset.duplicate_groups()],
        "unlabelled": getattr(dataset, "unlabelled", 0),
        "problems": problems,
    }


def _describe_counts(counts: list[int]) -> dict | None:
    if not counts:
        return None
    a = np.asarray(counts)
    return {
        "images_with_fixations": int(len(a)),
        "total": int(a.sum()),
        "mean": float(a.mean()),
        "min": int(a.min()),
        "median": float(np.median(a)),
        "max": int(a.max()),
    }


def format_summary(s: dict, max_problems: int = 50) -> str:
    lines = [f"{s['format']} dataset at {s['root']}", f"  images: {s['images']}"]
    if s["unlabelled"]:
        lines.append(f"  unlabelled images left out: {s['unlabelled']}")
    if s["categories"]:
        cats = ", ".join(f"{k} {v}" for k, v in s["categories"].items())
        lines.append(f"  categories ({len(s['categories'])}): {cats}")
    if s["subjects"]:
        lines.append(f"  subjects: {s['subjects']}")
    sizes = list(s["image_sizes"].items())
    shown = ", ".join(f"{k} ({v})" for k, v in sizes[:6])
    more = f", and {len(sizes) - 6} other sizes" if len(sizes) > 6 else ""
    lines.append(f"  image sizes: {shown}{more}")
    lines.append("  image modes: " + ", ".join(f"{k} ({v})" for k, v in s["image_modes"].items()))
    f = s["fixations"]
    if f:
        dropped = s["fixations_dropped_outside"]
        outside = (
            f"{dropped} outside their image, left out" if dropped else "all inside their image"
        )
        lines.append(
            f"  fixations per image: mean {f['mean']:.1f}, median {f['median']:.0f}, "
            f"min {f['min']}, max {f['max']} ({f['total']} in all over {f['images_with_fixations']} "
            f"images; {outside})"
        )
    else:
        lines.append("  fixations: none in this dataset")
    lines.append(f"  split (deterministic): train {s['split']['train']}, val {s['split']['val']}")
    groups = s.get("near_duplicates") or []
    if groups:
        shown = "; ".join(" = ".join(g) for g in groups[:10])
        more = f"; and {len(groups) - 10} more (see --json)" if len(groups) > 10 else ""
        lines.append(
            f"  near-duplicate images (one photo under two ids, kept on one side of the split): "
            f"{shown}{more}"
        )
    problems = s["problems"]
    lines.append(f"  problems: {len(problems) or 'none'}")
    lines += [f"    - {p}" for p in problems[:max_problems]]
    if len(problems) > max_problems:
        lines.append(f"    ... and {len(problems) - max_problems} more (see --json)")
    return "\n".join(lines)
