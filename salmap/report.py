"""A training run's report: ``RUN/report/report.md`` with its PNGs, and ``report.html`` with the
same content and the images embedded (one file that opens offline).

What it holds: the resolved config; the hardware, precision, wall time and images/s of the run
(from ``run.json``); the curves per epoch (``metrics.csv``); the validation metrics of each kept
model (``models/epoch_NNN``, ``best``, ``final``) beside the centre bias, scored by
:func:`salmap.evaluate.evaluate` on the run's own validation split; and the seed's comparison
figure (:func:`salmap.viz.comparison_figure`): validation images in rows, then the human
fixation density and each kept model's map.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from salmap import baselines as B
from salmap.data import open_dataset
from salmap.data.base import SplitRule
from salmap.errors import SalmapError
from salmap.evaluate import METRICS, evaluate, format_table, summarize
from salmap.files import atomic_folder, atomic_write_bytes
from salmap.viz import comparison_figure, read_metrics, save_figure, training_curves_figure

# The table's metrics (sAUC and the slow SSIM/EMD are left to `salmap evaluate`).
REPORT_METRICS = ("auc_judd", "nss", "cc", "sim", "kld", "ig")
COMPARISON_IMAGES = 4


@dataclass
class Report:
    """The report's content, rendered to Markdown and to HTML alike."""

    title: str
    sections: list[tuple[str, list]] = field(default_factory=list)  # (heading, blocks)
    images: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG

    def add(self, heading: str, *blocks) -> None:
        """Blocks: a str (paragraph), ("code", text), ("table", markdown), ("image", name)."""
        self.sections.append((heading, list(blocks)))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for heading, blocks in self.sections:
            out += [f"## {heading}", ""]
            for b in blocks:
                if isinstance(b, str):
                    out += [b, ""]
                elif b[0] == "code":
                    out += ["```yaml", b[1].rstrip(), "```", ""]
                elif b[0] == "table":
                    out += [b[1].rstrip(), ""]
                elif b[0] == "image":
                    out += [f"![{b[1]}]({b[1]})", ""]
        return "\n".join(out)

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for heading, blocks in self.sections:
            body.append(f"<h2>{html.escape(heading)}</h2>")
            for b in blocks:
                if isinstance(b, str):
                    body.append(f"<p>{_inline(b)}</p>")
                elif b[0] == "code":
                    body.append(f"<pre>{html.escape(b[1])}</pre>")
                elif b[0] == "table":
                    body.append(_html_table(b[1]))
                elif b[0] == "image":
                    data = base64.b64encode(self.images[b[1]]).decode()
                    body.append(f'<img alt="{b[1]}" src="data:image/png;base64,{data}">')
        style = (
            "body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
            "td{text-align:right}td:first-child{text-align:left}"
            "img{max-width:100%}pre{background:#f4f4f4;padding:1em;overflow:auto}"
        )
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{style}</style></head>"
            f"<body>{''.join(body)}</body></html>\n"
        )


def _inline(text: str) -> str:
    """Markdown's `code` and **bold** in a paragraph, as HTML."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def _html_table(markdown: str) -> str:
    """A pipe table (and the note lines after it) as HTML."""
    rows, notes = [], []
    for line in markdown.strip().splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif line.strip():
            notes.append(line)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    extra = "".join(f"<p><small>{_inline(n)}</small></p>" for n in notes)
    return f"<table><tr>{head}</tr>{body}</table>{extra}"


# -- the run's content ---------------------------------------------------------------------------
def kept_models(run: Path) -> dict[str, Path]:
    """label -> model folder: the epoch checkpoints in order, then best and final; models with
    identical weights share one entry (e.g. "epoch 200 = final")."""
    models = run / "models"
    epochs = sorted(models.glob("epoch_*"))
    named = [models / n for n in ("best", "final")]
    by_weights: dict[str, tuple[list[str], Path]] = {}
    for p in epochs + named:
        weights = p / "model.safetensors"
        if weights.is_file():
            label = f"epoch {int(p.name[6:])}" if p.name.startswith("epoch_") else p.name
            digest = hashlib.sha256(weights.read_bytes()).hexdigest()
            by_weights.setdefault(digest, ([], p))[0].append(label)
    if not by_weights:
        raise SalmapError(f"{run}: no kept models under models/ (is it a salmap train run?)")
    return {" = ".join(labels): path for labels, path in by_weights.values()}


def run_facts(run: Path, rows: list[dict]) -> list[str]:
    """Hardware, precision, wall time and images/s, from run.json and metrics.csv."""
    path = run / "run.json"
    sessions = json.loads(path.read_text())["sessions"] if path.is_file() else []
    lines = []
    for s in sessions:
        speed = s.get("speed", {})
        precision = "bf16 autocast" if speed.get("bf16") else "fp32"
        extras = [
            "channels_last" if speed.get("channels_last") else None,
            "fused optimiser" if speed.get("fused") else None,
            f"torch.compile({speed['compile']})"
            if speed.get("compile", "none") != "none"
            else None,
            "data on the device" if speed.get("train") == "DeviceBatches" else "DataLoader",
        ]
        where = s["hardware"] + (f" x {s['processes']}" if s.get("processes", 1) > 1 else "")
        lines.append(
            f"Epochs {s['from_epoch'] + 1} to {s['to_epoch']}: {where}, torch {s['torch']}, "
            f"{precision} ({', '.join(e for e in extras if e)}), {s['seconds'] / 60:.1f} min."
        )
    seconds = np.array([r.get("seconds", np.nan) for r in rows], dtype=float)
    rate = np.array([r.get("images_per_s", np.nan) for r in rows], dtype=float)
    ok = np.isfinite(seconds) & np.isfinite(rate)
    if ok.any():
        images = float((seconds[ok] * rate[ok]).sum())
        lines.append(
            f"Training passes: {len(rows)} epochs, {images:.0f} images in "
            f"{seconds[ok].sum() / 60:.1f} min, {images / seconds[ok].sum():.1f} images/s "
            f"(median epoch {np.median(rate[ok]):.1f} images/s; validation and bookkeeping "
            f"not counted)."
        )
    if sessions:
        total = sum(s["seconds"] for s in sessions)
        lines.append(f"Wall time of the run, validation and saving included: {total / 60:.1f} min.")
    return lines


def _val_part(run: Path, config: dict, data: str | None):
    """The dataset, the run's split rule (its split.json) and its validation part."""
    d = config["data"]
    if isinstance(d["path"], list):  # its split.json lists ids as <tag>/<id>
        raise SalmapError(
            f"{run}: trained on {len(d['path'])} data sets ({', '.join(map(str, d['path']))}); "
            "salmap report covers a run on one data set only"
        )
    path = data or d["path"]
    if path is None or not Path(path).exists():
        raise SalmapError(
            f"the run's dataset {path!r} is not there; pass --data PATH (the same dataset)"
        )
    ds = open_dataset(path, d.get("format"), d.get("sigma"))
    rule = SplitRule.from_ids_file(run / "split.json", d["split_seed"], d["val_fraction"])
    part = rule.part(ds, "val")
    if len(part) == 0:
        raise SalmapError(f"{path}: the run's validation split is empty; nothing to report on")
    return ds, rule, part


def write_report(
    run: str | Path,
    data: str | None = None,
    out: str | Path | None = None,
    images: int = COMPARISON_IMAGES,
    overwrite: bool = True,
    progress=None,
) -> Path:
    """Write the report of training run ``run`` into ``out`` (default ``RUN/report``), built in
    a temporary folder and moved into place complete; returns the report's folder."""
    from salmap import load_model

    run = Path(run)
    if not (run / "config.yaml").is_file() or not (run / "metrics.csv").is_file():
        raise SalmapError(f"{run}: not a salmap train run (no config.yaml and metrics.csv)")
    out = Path(out) if out else run / "report"
    if out.exists() and not overwrite:
        raise SalmapError(f"{out} exists; pass --overwrite to replace it")
    config_text = (run / "config.yaml").read_text()
    config = yaml.safe_load(config_text)
    rows = read_metrics(run / "metrics.csv")
    ds, rule, part = _val_part(run, config, data)
    models = kept_models(run)

    report = Report(f"Training report: {run.resolve().name}")
    report.add("Run", *run_facts(run, rows))
    _add_curves(report, rows, config)
    loaded = {label: load_model(path, runner="torch") for label, path in models.items()}
    _add_metrics(report, loaded, ds, rule, part, config, progress)
    _add_comparison(report, loaded, part, images)
    report.add("Config", ("code", config_text))
    _write_folder(out, report)
    return out


def _add_curves(report: Report, rows: list[dict], config: dict) -> None:
    """The training curves (curves.png) and what they show."""
    report.images["curves.png"] = _png(training_curves_figure(rows))
    report.add(
        "Curves",
        "Loss and SSIM of the training and validation passes in the model's input frame "
        f"({config['model']['input_size'][0]}x{config['model']['input_size'][1]}, the seed's "
        "figures); validation CC, NSS and KLD as `salmap evaluate` computes them (each map "
        "restored to its image's resolution, against the density there).",
        ("image", "curves.png"),
    )


def _add_metrics(report: Report, loaded: dict, ds, rule, part, config: dict, progress) -> None:
    """The kept models and the centre bias scored on the run's validation split ``part``."""
    predictors = {label: m.predict for label, m in loaded.items()} | {"centre": B.predict_centre}
    longer = config.get("eval_longer_side")
    scored = evaluate(
        ds,
        predictors,
        split="val",
        rule=rule,
        longer_side=longer,
        metrics=REPORT_METRICS,
        progress=progress,
    )
    table = format_table(summarize(scored, REPORT_METRICS), REPORT_METRICS)
    frame = f"longer side {longer} px" if longer else "each image's own resolution"
    report.add(
        "Validation metrics of the kept models",
        f"{len(part)} validation images of {ds.format} `{config['data']['path']}` (the run's "
        "own split, its split.json), "
        f"{frame}, MIT metric definitions (`salmap.evaluate`); the centre bias is the fixed "
        "centre Gaussian.",
        ("table", table),
        ", ".join(f"**{k}**: {METRICS[k].label}" for k in REPORT_METRICS) + ".",
    )


def _add_comparison(report: Report, loaded: dict, part, images: int) -> None:
    """The seed's figure: the first ``images`` validation images, their human density and
    each kept model's map (comparison.png)."""
    from salmap.comparison import sample_row

    figure_rows = []
    for i in range(min(images, len(part))):
        row = sample_row(part[i])
        figure_rows.append({**row, "maps": [m.predict(row["image"]) for m in loaded.values()]})
    report.images["comparison.png"] = _png(comparison_figure(figure_rows, list(loaded)))
    report.add(
        "Validation images",
        "The first validation images: the image, the human fixation density (fixations as "
        "dots), then each kept model's map over the image.",
        ("image", "comparison.png"),
    )


def _png(fig, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (80 dpi: the report's figures stay under about 1 MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fig.png"
        save_figure(fig, path, dpi=dpi)
        return path.read_bytes()


def _write_folder(out: Path, report: Report) -> None:
    """report.md, its PNGs and report.html, into a sibling temporary folder first, then
    swapped in for ``out``: a crash leaves the previous report (or none), never half of one."""
    with atomic_folder(out, replace=True) as tmp:
        for name, data in report.images.items():
            atomic_write_bytes(tmp / name, data)
        atomic_write_bytes(tmp / "report.md", report.markdown().encode())
        atomic_write_bytes(tmp / "report.html", report.html().encode())
