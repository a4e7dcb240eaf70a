"""Every model Tastemaker offers, in one explicit registry: name -> class.

Each class carries a one-line plain-language ``description`` and its ``feedback`` kind for the dashboard.
"""

from __future__ import annotations

from recsys.models.als import ImplicitALS
from recsys.models.base import ModelError, Recommender, load_model
from recsys.models.baselines import Popularity, RandomModel
from recsys.models.bpr import BPR
from recsys.models.content import ContentBased
from recsys.models.ease import EASE
from recsys.models.knn import ItemKNN, UserKNN
from recsys.models.mf import BiasedMF
from recsys.models.vae import MultVAE

MODELS: dict[str, type[Recommender]] = {
    "popularity": Popularity,
    "random": RandomModel,
    "itemknn": ItemKNN,
    "userknn": UserKNN,
    "ease": EASE,
    "ials": ImplicitALS,
    "bpr": BPR,
    "mf": BiasedMF,
    "content": ContentBased,
    "multvae": MultVAE,
}

PERSONALISED = [name for name in MODELS if name not in ("popularity", "random")]


def make_model(name: str, **params) -> Recommender:
    """A model by registry name, with hyperparameters overriding its defaults."""
    if name not in MODELS:
        raise ModelError(f"Unknown model {name!r}. Available: {', '.join(MODELS)}.")
    return MODELS[name]().set_params(**params)


__all__ = ["MODELS", "PERSONALISED", "ModelError", "Recommender", "load_model", "make_model"]
