"""PLACEHOLDER: to be implemented."""

from __future__ import annotations

from recsys.models.base import Recommender


class ItemKNN(Recommender):
    """Item-based cosine neighbours (placeholder)."""

    name = "itemknn"
    description = "Item-based cosine neighbours."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed


class UserKNN(Recommender):
    """User-based cosine neighbours (placeholder)."""

    name = "userknn"
    description = "User-based cosine neighbours."

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
