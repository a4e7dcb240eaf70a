"""PLACEHOLDER: to be implemented."""

from __future__ import annotations

from recsys.models.base import Recommender


class MultVAE(Recommender):
    """Mult-VAE (placeholder)."""

    name = "multvae"
    description = "Mult-VAE."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
