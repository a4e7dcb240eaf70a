"""PLACEHOLDER: to be implemented."""

from __future__ import annotations

from recsys.models.base import Recommender


class BPR(Recommender):
    """Bayesian personalised ranking (placeholder)."""

    name = "bpr"
    description = "Bayesian personalised ranking."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
