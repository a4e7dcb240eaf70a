"""PLACEHOLDER: to be implemented."""

from __future__ import annotations

from recsys.models.base import Recommender


class BiasedMF(Recommender):
    """Biased matrix factorisation (placeholder)."""

    name = "mf"
    description = "Biased matrix factorisation."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
