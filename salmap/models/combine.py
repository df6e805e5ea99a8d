"""Saved models combined into one :class:`~salmap.models.ensemble.EnsembleModel`, with the
training recipe it records (``salmap ensemble``)."""

from __future__ import annotations

import json

from salmap.errors import SalmapError
from salmap.models.ensemble import EnsembleModel
from salmap.models.io import SHIPPED, load_model, model_label


def combine(
    names: list[str],
    weights: list[float] | None = None,
    flip_average: bool = False,
    by_name: bool = False,
) -> tuple[EnsembleModel, dict, list[str]]:
    """The ensemble of the models ``names`` (folders, .safetensors files or shipped names;
    ``by_name``: shipped ones are saved by their name, not copied), the training recipe to save
    with it (the members' recipes, and their data split when they agree on it) and notes for
    the user."""
    if len(names) < 2:
        raise SalmapError("an ensemble needs at least two models")
    if weights is not None and len(weights) != len(names):
        raise SalmapError(f"--weights: {len(weights)} weights for {len(names)} models")
    members, recipes = [], []
    for name in names:
        model = load_model(name, runner="torch")
        if isinstance(model, EnsembleModel):
            raise SalmapError(f"{name}: is an ensemble already; give its members instead")
        members.append(model)
        recipes.append({"model": model_label(name), "training": model.training_recipe})
    ensemble = EnsembleModel(members, weights, flip_average)
    if by_name:
        ensemble.shipped = {k: n for k, n in enumerate(names) if n in SHIPPED}
    # the split evaluate scores on is the members' when they agree on it, else none recorded
    splits = {_split(m.training_recipe) for m in members}
    recipe, notes = {"members": recipes}, []
    if len(splits) == 1:
        recipe["data"] = members[0].training_recipe.get("data", {})
    else:
        notes.append("the members were trained on different data or splits; none is recorded")
    return ensemble, recipe, notes


def _split(recipe: dict) -> str:
    data = (recipe or {}).get("data") or {}
    keys = ("path", "format", "split_seed", "val_fraction")
    return json.dumps({k: data.get(k) for k in keys}, sort_keys=True)
