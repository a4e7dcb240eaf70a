"""How a model uses the numbers in the data (plays, clicks, stars), read from its declared settings, so
the Train page can say it before anything trains.

* A model with a ``binary`` setting (Implicit ALS) weighs each interaction by ``1 + alpha * value``
  unless ``binary`` is on, when every interaction counts once.
* A model with a ``use_values`` setting (the neighbour models, content) multiplies by the value only when
  it is on.
* Matrix factorisation (``mf``) fits the values themselves (a squared error on each).
* Every other model (Popularity, EASE, BPR, Mult-VAE, Random) counts each interaction once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FITS_VALUES = ("mf",)


def uses_values(model: str, params: Mapping[str, Any] | None = None) -> bool:
    """True when ``model`` with ``params`` (settings changed from the defaults) weighs interactions by
    their values; False when every interaction counts the same."""
    from recsys.models import MODELS

    if model in FITS_VALUES:
        return True
    declared = {s.name: s for s in getattr(MODELS.get(model), "settings", ())}
    params = dict(params or {})
    if "binary" in declared:
        return not bool(params.get("binary", declared["binary"].default))
    if "use_values" in declared:
        return bool(params.get("use_values", declared["use_values"].default))
    return False


def value_setting(model: str):
    """The declared setting that switches values on or off for ``model`` (``binary`` or ``use_values``),
    or None when the model has none."""
    from recsys.models import MODELS

    declared = {s.name: s for s in getattr(MODELS.get(model), "settings", ())}
    return declared.get("binary") or declared.get("use_values")
