"""Registries that other packages extend, without editing salmap, through entry points.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."salmap.datasets"]
    osie-mine = "mypkg.readers:MyOSIE"          # a SaliencyDataset subclass

and once it is installed ``--format osie-mine`` works everywhere. The groups and what each entry
point names:

- ``salmap.datasets``: a :class:`~salmap.data.SaliencyDataset` subclass (``open``, ``find_root``)
- ``salmap.metrics``: a :class:`salmap.evaluate.Metric` (label, what it needs, its function)
- ``salmap.encoders``: ``build(weights) -> Encoder``, as :data:`salmap.models.encoders.ENCODERS`
- ``salmap.decoders``: ``Decoder(encoder_channels, encoder_reductions, **kwargs)``
- ``salmap.losses``: ``loss(logits, target, fixations) -> tensor``

A plugin cannot replace a built-in name (that would change what a recipe or a table means
depending on what is installed); an entry point that fails to load is an error naming it.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from salmap.errors import SalmapError

GROUPS = (
    "salmap.datasets",
    "salmap.metrics",
    "salmap.encoders",
    "salmap.decoders",
    "salmap.losses",
)


@cache
def plugins(group: str) -> dict[str, object]:
    """name -> loaded object for every entry point of ``group`` (loaded once per process;
    ``plugins.cache_clear()`` reloads)."""
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; expected one of {', '.join(GROUPS)}")
    found = {}
    for ep in entry_points(group=group):
        try:
            found[ep.name] = ep.load()
        except Exception as e:  # noqa: BLE001 - any import error of a third-party package
            raise SalmapError(f"entry point {ep.name!r} of {group} ({ep.value}): {e}") from None
    return found


def extend(group: str, registry: dict) -> dict:
    """Add ``group``'s plugins to ``registry`` (in place; a name already there from another
    source is an error) and return it."""
    for name, obj in plugins(group).items():
        if name in registry and registry[name] is not obj:
            raise SalmapError(
                f"entry point {name!r} of {group} would replace salmap's own {name!r}; rename it"
            )
        registry[name] = obj
    return registry
