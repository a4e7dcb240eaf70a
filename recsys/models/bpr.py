"""Bayesian personalised ranking (Rendle et al. 2009) with sampled negatives, in torch on the device.

Definitions. For a user u, an item i they interacted with and an item j they did not (drawn uniformly),
``x_uij = p_u . (q_i - q_j) + b_i - b_j``; training maximises ``sum log sigmoid(x_uij)`` minus
``regularization`` times the squared norm of the factors and biases each sample touches, as implicit's
BPR does (item biases included). The loss reported per epoch is the mean of ``-log sigmoid(x_uij)`` over
the epoch's samples; ``correct`` is the fraction of samples ranked right (``x_uij > 0``).

An epoch draws ``len(train)`` triples: the positive (u, i) uniformly among the interactions, j uniformly
among the items, redrawn where the user has j. Triples are processed in large vectorised batches: each
batch's gradient is computed at once and scattered with ``index_add_`` (summed, like Hogwild SGD on the
same samples). Updates are SGD with a learning rate; rows hit by many samples of a batch move by the sum
of their per-sample steps, so ``learning_rate`` is per sample, as in implicit.

Fold-in: a new user's factor is the least-squares fit of ``p . q_i + b_i ~ 1`` over their history with
ridge ``regularization``: the vector that scores their items highest in the squared sense.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recsys.data import Catalog, Interactions
from recsys.models.als import ridge_attribution, ridge_fold_in
from recsys.models.base import Recommender


class BPR(Recommender):
    """Matrix factorisation trained to rank each user's items above items they have not touched."""

    name = "bpr"
    description = (
        "BPR: learns to rank what each person played above what they did not (implicit feedback); good for "
        "large catalogues and sparse data."
    )
    feedback = "implicit"
    iterative = True

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        epochs: int = 30,
        batch_size: int | None = None,
        verify_negatives: bool = True,
        seed: int = 42,
        device: str | None = None,
        validate_every: int = 5,
        patience: int | None = None,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.epochs = epochs
        self.batch_size = batch_size
        self.verify_negatives = verify_negatives
        self.seed = seed
        self.device = device
        self.validate_every = validate_every
        self.patience = patience

    def _batch(self) -> int:
        """Samples per step: given, else 1M on a GPU and 64k on a CPU (fits in cache)."""
        if self.batch_size:
            return int(self.batch_size)
        return 2**20 if self.device_.type == "cuda" else 2**16

    def _start_training(self, train: Interactions, catalog: Catalog | None) -> None:
        device = self.device_
        csr = self.user_items_
        k = int(self.factors)
        self._generator = torch.Generator(device=device).manual_seed(int(self.seed))
        init = torch.Generator().manual_seed(int(self.seed))
        self.user_factors_ = ((torch.rand(self.n_users_, k, generator=init) - 0.5) / k).to(device)
        self.item_factors_ = ((torch.rand(self.n_items_, k, generator=init) - 0.5) / k).to(device)
        self.item_bias_ = torch.zeros(self.n_items_, device=device)
        users = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
        self._users = torch.as_tensor(users, device=device)
        self._items = torch.as_tensor(csr.indices.astype(np.int64), device=device)
        # (user, item) keys in increasing order (CSR rows sorted by item): membership by binary search
        self._keys = self._users * self.n_items_ + self._items

    def _negatives(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform items for each user, redrawn (up to 3 times) where the user has them; returns the items
        and a mask of the samples whose negative is valid."""
        n_items = self.n_items_
        negatives = torch.randint(0, n_items, users.shape, generator=self._generator, device=users.device)
        if not self.verify_negatives or len(self._keys) == 0:
            return negatives, torch.ones_like(users, dtype=torch.bool)
        for _ in range(4):
            keys = users * n_items + negatives
            pos = torch.searchsorted(self._keys, keys).clamp_max(len(self._keys) - 1)
            clash = self._keys[pos] == keys
            if not bool(clash.any()):
                break
            redraw = torch.randint(0, n_items, users.shape, generator=self._generator, device=users.device)
            negatives = torch.where(clash, redraw, negatives)
        return negatives, ~clash

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        n = len(self._users)
        lr, reg = float(self.learning_rate), float(self.regularization)
        users_f, items_f, bias = self.user_factors_, self.item_factors_, self.item_bias_
        batch = self._batch()
        total_loss = torch.zeros((), device=self.device_, dtype=torch.float64)
        total_correct = torch.zeros((), device=self.device_, dtype=torch.float64)
        with torch.no_grad():
            for start in range(0, n, batch):
                size = min(batch, n - start)
                pick = torch.randint(0, n, (size,), generator=self._generator, device=self.device_)
                u, i = self._users[pick], self._items[pick]
                j, valid = self._negatives(u)
                pu = users_f.index_select(0, u)
                qi = items_f.index_select(0, i)
                qj = items_f.index_select(0, j)
                diff = qi - qj
                x = (pu * diff).sum(1) + bias.index_select(0, i) - bias.index_select(0, j)
                total_loss += (-F.logsigmoid(x) * valid).sum()
                total_correct += ((x > 0) & valid).sum()
                g = torch.sigmoid(-x) * valid * lr  # d log sigmoid(x) / dx, scaled by the step
                g_col = g.unsqueeze(1)
                users_f.index_add_(0, u, g_col * diff - (lr * reg) * pu)
                items_f.index_add_(0, i, g_col * pu - (lr * reg) * qi)
                items_f.index_add_(0, j, -g_col * pu - (lr * reg) * qj)
                bias.index_add_(0, i, g - (lr * reg) * bias.index_select(0, i))
                bias.index_add_(0, j, -g - (lr * reg) * bias.index_select(0, j))
        return {"loss": float(total_loss) / max(1, n), "correct": float(total_correct) / max(1, n)}

    def _finish_training(self) -> None:
        del self._users, self._items, self._keys, self._generator

    # -- scoring ------------------------------------------------------------------------------
    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_factors_[users] @ self.item_factors_.T + self.item_bias_

    def _fold_in(self, history: sp.csr_matrix) -> torch.Tensor:
        """Ridge least squares for each row: ``argmin_p sum_i (1 - b_i - p . q_i)^2 + reg |p|^2`` over
        the row's items."""
        return ridge_fold_in(self.item_factors_, history, self._weight, self._target, self._fold_in_ridge())

    def _fold_in_ridge(self) -> float:
        return max(float(self.regularization), 1e-3)

    def _weight(self, values: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(values)

    def _target(self, values: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return 1.0 - self.item_bias_[items]

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        return self._fold_in(history) @ self.item_factors_.T + self.item_bias_

    def item_embeddings(self) -> torch.Tensor:
        return self.item_factors_

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        """Factor attribution of the fold-in solve (as implicit's ALS explain): history item j adds
        ``(1 - b_j) q_i^T W^-1 q_j`` with ``W = sum_j q_j q_j^T + reg I``; these sum to the fold-in
        score of item i less its bias."""
        return ridge_attribution(
            self.item_factors_, history, values, self._weight, self._target, self._fold_in_ridge(), item)
