"""PLACEHOLDER: to be implemented."""

from __future__ import annotations

from recsys.models.base import Recommender


class ImplicitALS(Recommender):
    """Implicit ALS (placeholder)."""

    name = "ials"
    description = "Implicit ALS."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
