"""EyeCrowd (Jiang et al. 2014, "Saliency in crowd") as distributed: the original ``data/``
folder's ``stimuli/001.jpg`` ... ``500.jpg`` (1024 x 768, scenes with people),
``eye/fixations.mat`` (16 observers) and ``labels.mat`` (the authors' face labels, not read here).

``fixations.mat`` has exactly OSIE's structure, so OSIE's reader reads it. A folder with that
layout is EyeCrowd when it has ``labels.mat`` or an image named with three digits (see
:func:`salmap.data.osie.looks_like_eyecrowd`); ``--format`` overrides the guess either way.
"""

from __future__ import annotations

from pathlib import Path

from salmap.data.osie import OSIE, looks_like_eyecrowd


class EyeCrowd(OSIE):
    format = "eyecrowd"
    title = "EyeCrowd"
    folders = ("data", "eyecrowd")

    @classmethod
    def _claims(cls, root: Path) -> bool:
        return looks_like_eyecrowd(root)
