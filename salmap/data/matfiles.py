"""Reading MATLAB .mat files as the datasets distribute them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from salmap.errors import DataError


def load_mat(path: str | Path, *keys: str) -> dict:
    """Load the named variables of a MATLAB v5 .mat file, with errors that name the file."""
    import scipy.io  # here: a second of every salmap command's start-up otherwise

    path = Path(path)
    try:
        data = scipy.io.loadmat(path, variable_names=list(keys) or None)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except NotImplementedError:
        raise DataError(
            f"{path}: a MATLAB v7.3 (HDF5) file; save it with -v7 or convert it to .npy"
        ) from None
    except (ValueError, TypeError, OSError) as e:
        raise DataError(f"{path}: not a readable .mat file ({e})") from None
    missing = [k for k in keys if k not in data]
    if missing:
        found = sorted(k for k in data if not k.startswith("__"))
        raise DataError(f"{path}: variable {missing[0]!r} not found (has: {', '.join(found)})")
    return data


def struct_field(struct, name: str, where: str):
    """A field of a MATLAB struct as scipy loads it (a 1 x 1 record array, or one entry of a
    struct array), or a DataError naming ``where`` (the file and the entry) and the field."""
    try:
        return (struct if isinstance(struct, np.void) else struct[0, 0])[name]
    except (IndexError, KeyError, ValueError, TypeError):
        raise DataError(f"{where}: no field {name!r}") from None
