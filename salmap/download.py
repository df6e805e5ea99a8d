"""Checked downloads: a file is fetched to a temporary name, its SHA-256 verified, then renamed.

A failed or interrupted download leaves nothing behind at the destination, and a file whose hash
does not match is deleted, so a later run never loads a broken file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from salmap.errors import SalmapError

CHUNK = 1 << 20


class DownloadError(SalmapError):
    """A download that failed, or whose content did not match its expected hash."""


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | Path, sha256: str, timeout: float = 30.0, progress=None) -> Path:
    """Fetch ``url`` to ``dest`` unless a file with the right hash is already there.

    ``sha256`` is the expected hex digest, or a prefix of it of at least 8 characters (as in
    torchvision's weight file names). ``progress``, if given, is called with (done, total) bytes.
    """
    dest = Path(dest)
    if len(sha256) < 8:
        raise ValueError("sha256 must give at least 8 hex digits")
    if dest.is_file() and sha256_of(dest).startswith(sha256.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            for chunk in iter(lambda: resp.read(CHUNK), b""):
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        digest = h.hexdigest()
        if not digest.startswith(sha256.lower()):
            raise DownloadError(
                f"{url}: SHA-256 {digest[:16]}... does not match the expected {sha256}"
            )
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise DownloadError(f"{url}: download failed ({e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
