"""What a batch run leaves beside its outputs, one JSON line per input: ``manifest.jsonl``
(``salmap predict``: each input's outputs or its error, merged with an earlier run's lines)
and ``crops.jsonl`` (``salmap crop``: each image's boxes or its error)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from salmap.errors import SalmapError

MANIFEST = "manifest.jsonl"
JSONL = "crops.jsonl"


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


def listed_outputs(folder: Path) -> set[str]:
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


def entry(item, plan, out: Path, status: str, error: str | None = None, note=None) -> dict:
    """The manifest line of ``item`` (an :class:`~salmap.batch.inputs.Input`): its ``plan``'s
    files relative to ``out``, or its ``error``; ``status`` done, existing, error or not done."""
    line = {"input": str(item.path), "status": status}
    if item.frame is not None:
        line["frame"] = item.frame + 1
    if error is None:
        line["outputs"] = {k: str(p.relative_to(out)) for k, p in plan.items()}
    else:
        line["error"] = error
    if note:
        line["note"] = note
    return line


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

    now = [entries.get(i) or entry(item, plans[i], out, "not done") for i, item in enumerate(items)]
    now += list(problems)
    ours = {(e["input"], e.get("frame")) for e in now} | {(str(i), None) for i in inputs}
    planned = {str(p.relative_to(out)) for plan in plans for p in plan.values()}

    def redone(e: dict) -> bool:
        outputs = e.get("outputs") if isinstance(e.get("outputs"), dict) else {}
        written = planned & {str(v) for v in outputs.values()}
        return (e["input"], e.get("frame")) in ours or bool(written)

    kept = [e for e in manifest_entries(earlier) if not redone(e)]
    text = "".join(json_line(e) + "\n" for e in kept + now)
    (write or atomic_write_bytes)(path, text.encode())


def json_line(line: dict) -> str:
    """One JSON line, non-ASCII names as they are where they are valid Unicode (a file name
    that is not is written escaped, so the line is still valid UTF-8 JSON)."""
    text = json.dumps(line, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(line)
    return text


def check_earlier_manifest(path, earlier: bytes | None, overwrite: bool) -> None:
    """Refuse to replace a ``manifest.jsonl`` that is not salmap's, unless ``overwrite``."""
    if earlier and earlier.strip() and not manifest_entries(earlier) and not overwrite:
        raise SalmapError(
            f"{path} exists and is not a salmap manifest: pass --overwrite to replace it, or "
            "choose another --out"
        )


def jsonl(lines: list[dict]) -> bytes:
    """``crops.jsonl``'s bytes."""
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def crop_lines(texts) -> dict[str, str]:
    """Image path -> its ``crops.jsonl`` line (errors left out) among the lines of ``texts``;
    a line that does not parse (a crash in the middle of a write elsewhere) is ignored."""
    known = {}
    for text in texts:
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and "crops" in line:
            known[line["image"]] = text
    return known
