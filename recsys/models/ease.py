"""PLACEHOLDER: to be implemented."""

from __future__ import annotations

from recsys.models.base import Recommender


class EASE(Recommender):
    """EASE closed form (placeholder)."""

    name = "ease"
    description = "EASE closed form."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
