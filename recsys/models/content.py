"""PLACEHOLDER: to be implemented."""

from __future__ import annotations

from recsys.models.base import Recommender


class ContentBased(Recommender):
    """Content-based TF-IDF (placeholder)."""

    name = "content"
    description = "Content-based TF-IDF."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
