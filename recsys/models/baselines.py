"""Baselines every result is shown against: most popular items, and random items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data import Catalog, Interactions
from recsys.models.base import Recommender
from recsys.models.settings import DEVICE, SEED


class Popularity(Recommender):
    """Recommends the items with the most interactions (the same list for everyone)."""

    name = "popularity"
    description = "Most-played items, the same list for everyone. The baseline every model must beat."
    feedback = "both"
    settings = (DEVICE,)

    def __init__(self, device: str | None = None) -> None:
        self.device = device

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        counts = train.item_counts().astype(np.float32)
        self.item_popularity_ = torch.as_tensor(counts, device=self.device_)

    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.item_popularity_.unsqueeze(0).expand(len(users), -1).clone()

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        return self.item_popularity_.unsqueeze(0).expand(history.shape[0], -1).clone()

    def _explain(self, user, history, values, item) -> np.ndarray:
        return np.zeros(len(history), np.float32)  # popularity ignores the user's history


class RandomModel(Recommender):
    """Random scores: a sanity baseline any real model must clearly beat."""

    name = "random"
    description = "Random items: a sanity check. Any real model must do far better."
    feedback = "both"
    settings = (SEED, DEVICE)

    def __init__(self, seed: int = 42, device: str | None = None) -> None:
        self.seed = seed
        self.device = device

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self.calls_ = 0

    def _random_scores(self, rows: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(int(self.seed) + self.calls_)
        self.calls_ += 1
        return torch.rand(rows, self.n_items_, generator=generator).to(self.device_)

    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self._random_scores(len(users))

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        return self._random_scores(history.shape[0])

    def _explain(self, user, history, values, item) -> np.ndarray:
        return np.zeros(len(history), np.float32)
