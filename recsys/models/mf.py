"""Biased matrix factorisation for explicit ratings, in torch on the device.

Definitions. The predicted rating is ``r_hat_ui = mu + b_u + b_i + p_u . q_i`` where ``mu`` is the mean
training rating. Training minimises the squared error of the training ratings plus
``regularization`` times the squared norm of the factors and biases each rating touches, by SGD (Funk's
update, ``learning_rate`` per rating) on vectorised minibatches: a batch's per-rating steps are summed
into the rows they touch with ``index_add_``. Each epoch reports ``loss`` (that objective)
and ``rmse`` and ``mae`` (of the training ratings seen during the epoch). Predictions are clipped to the
range of the training ratings.

Ranking scores are the predicted ratings. Fold-in: a new user's ``(p, b_u)`` is the ridge least-squares
fit of their ratings with item factors and biases fixed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data import Catalog, Interactions
from recsys.device import cpu_threads
from recsys.models.als import ridge_attribution, ridge_fold_in
from recsys.models.base import Recommender
from recsys.models.products import scores_product
from recsys.models.settings import (
    BATCH_SIZE,
    EPOCHS,
    FACTORS,
    INIT_SCALE,
    ITERATIVE,
    LEARNING_RATE,
    REGULARIZATION,
)


class BiasedMF(Recommender):
    """Predicts star ratings from user and item biases plus a dot product of taste vectors."""

    name = "mf"
    description = (
        "Biased matrix factorisation: predicts star ratings (explicit feedback); reports RMSE/MAE, good "
        "when people rate what they watch."
    )
    feedback = "explicit"
    iterative = True
    settings = (
        FACTORS,
        LEARNING_RATE.but(default=0.01, tune=(0.001, 0.1)),
        REGULARIZATION.but(default=0.05, tune=(0.001, 1.0)),
        EPOCHS.but(default=20, tune=(2, 60)),
        BATCH_SIZE,
        INIT_SCALE.but(default=0.1),
        *ITERATIVE,
    )

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.05,
        epochs: int = 20,
        batch_size: int = 4096,
        init_scale: float = 0.1,
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
        self.init_scale = init_scale
        self.seed = seed
        self.device = device
        self.validate_every = validate_every
        self.patience = patience

    def _start_training(self, train: Interactions, catalog: Catalog | None) -> None:
        device = self.device_
        self._generator = torch.Generator(device=device).manual_seed(int(self.seed))
        init = torch.Generator().manual_seed(int(self.seed))
        k, scale = int(self.factors), float(self.init_scale)
        values = np.ones(len(train), np.float32) if train.values is None else train.values.astype(np.float32)
        self.global_mean_ = float(values.mean()) if len(values) else 0.0
        self.rating_min_ = float(values.min()) if len(values) else 0.0
        self.rating_max_ = float(values.max()) if len(values) else 1.0
        self._users = torch.as_tensor(train.users.astype(np.int64), device=device)
        self._items = torch.as_tensor(train.items.astype(np.int64), device=device)
        self._train_ratings = torch.as_tensor(values, device=device)
        # one row per user / item: k factors, then the bias
        self._user_rows = (torch.randn(self.n_users_, k + 1, generator=init) * scale).to(device)
        self._item_rows = (torch.randn(self.n_items_, k + 1, generator=init) * scale).to(device)
        self._user_rows[:, -1] = 0.0
        self._item_rows[:, -1] = 0.0
        self._publish()

    def _publish(self) -> None:
        """Copy the learned rows into the saved state (factors and biases)."""
        users, items = self._user_rows, self._item_rows
        self.user_factors_, self.user_bias_ = users[:, :-1].clone(), users[:, -1].clone()
        self.item_factors_, self.item_bias_ = items[:, :-1].clone(), items[:, -1].clone()

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        n = len(self._train_ratings)
        order = torch.randperm(n, generator=self._generator, device=self.device_)
        lr, reg, mu = float(self.learning_rate), float(self.regularization), self.global_mean_
        batch = int(self.batch_size)
        user_rows, item_rows = self._user_rows, self._item_rows
        sums = torch.zeros(3, device=self.device_, dtype=torch.float64)
        with torch.no_grad(), cpu_threads(1 if self.device_.type == "cpu" else None):
            for start in range(0, n, batch):
                pick = order[start : start + batch]
                u, i, r = self._users[pick], self._items[pick], self._train_ratings[pick]
                pu, qi = user_rows.index_select(0, u), item_rows.index_select(0, i)
                error = r - (mu + (pu[:, :-1] * qi[:, :-1]).sum(1) + pu[:, -1] + qi[:, -1])
                penalty = ((pu * pu).sum(1) + (qi * qi).sum(1)).sum()
                sums += torch.stack([(error * error).sum(), error.abs().sum(), penalty]).double()
                step = (lr * error).unsqueeze(1)
                # gradient step on (r - r_hat)^2 / 2 + reg / 2 * (|pu|^2 + |qi|^2): factors cross, biases
                # get the error itself
                grad_u = torch.cat([qi[:, :-1], torch.ones_like(error).unsqueeze(1)], 1)
                grad_i = torch.cat([pu[:, :-1], torch.ones_like(error).unsqueeze(1)], 1)
                user_rows.index_add_(0, u, step * grad_u - (lr * reg) * pu)
                item_rows.index_add_(0, i, step * grad_i - (lr * reg) * qi)
        squared, absolute, penalty = (float(v) for v in sums)
        self._publish()
        n = max(1, n)
        return {"loss": (squared + reg * penalty) / n, "rmse": (squared / n) ** 0.5, "mae": absolute / n}

    def _finish_training(self) -> None:
        self._publish()
        del self._user_rows, self._item_rows, self._users, self._items, self._train_ratings, self._generator

    # -- prediction and scoring ---------------------------------------------------------------
    def _clip(self, ratings: torch.Tensor) -> torch.Tensor:
        """``ratings`` (a fresh tensor) clamped to the training scale, in place."""
        return ratings.clamp_(self.rating_min_, self.rating_max_)

    def _ratings(self, factors: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Predicted ratings of every item for rows with these factors and ``mu + b_u`` offsets: one
        users x items array, the item biases added inside the product."""
        scores = scores_product(factors, self.item_factors_, self.item_bias_)
        scores += offsets.unsqueeze(1)
        return self._clip(scores)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings for pairs of user and item numbers (float32 array)."""
        self._check_fitted()
        u = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.device_)
        i = torch.as_tensor(np.asarray(items, dtype=np.int64), device=self.device_)
        with torch.no_grad():
            dots = (self.user_factors_[u] * self.item_factors_[i]).sum(1)
            pred = self.global_mean_ + self.user_bias_[u] + self.item_bias_[i] + dots
            return self._clip(pred).float().cpu().numpy()

    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self._ratings(self.user_factors_[users], self.global_mean_ + self.user_bias_[users])

    def _augmented_items(self) -> torch.Tensor:
        """Item factors with a column of ones, so that the user bias is solved with the factor."""
        ones = torch.ones(self.n_items_, 1, device=self.item_factors_.device, dtype=self.item_factors_.dtype)
        return torch.cat([self.item_factors_, ones], dim=1)

    def _weight(self, values: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(values)

    def _residual(self, values: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """What the user's factor and bias must explain: r - mu - b_i."""
        return values - self.global_mean_ - self.item_bias_[items]

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        """Fold-in: ridge fit of (p, b_u) to the history's ratings, then predicted ratings."""
        solved = ridge_fold_in(self._augmented_items(), history, self._weight, self._residual,
                               max(float(self.regularization), 1e-3))
        return self._ratings(solved[:, :-1], self.global_mean_ + solved[:, -1])

    def item_embeddings(self) -> torch.Tensor:
        return self.item_factors_

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        """Factor attribution of the fold-in solve: rating j adds ``(r_j - mu - b_j) a_i^T W^-1 a_j``
        (``a`` = item factors with a 1 appended); these sum to the fold-in prediction less mu and b_i."""
        return ridge_attribution(self._augmented_items(), history, values, self._weight, self._residual,
                                 max(float(self.regularization), 1e-3), item)
