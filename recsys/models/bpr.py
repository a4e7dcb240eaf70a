"""Bayesian personalised ranking (Rendle et al. 2009) with sampled negatives, in torch on the device.

Definitions. For a user u, an item i they interacted with and an item j they did not (drawn uniformly),
``x_uij = p_u . (q_i - q_j) + b_i - b_j``; training maximises ``sum log sigmoid(x_uij)`` minus
``regularization`` times the squared norm of the factors and biases each sample touches, as implicit's
BPR does (item biases included). The loss reported per epoch is the mean of ``-log sigmoid(x_uij)`` over
the epoch's samples; ``correct`` is the fraction of samples ranked right (``x_uij > 0``).

An epoch draws ``len(train)`` triples: the positive (u, i) uniformly among the interactions, j uniformly
among the items (or, with ``negative_sampling="popularity"``, as the item of another random interaction,
as implicit's CPU BPR does), redrawn where the user has j. On the demo uniform negatives climb slowly and
end higher (NDCG@10 0.22 after 30 epochs); popularity-weighted ones peak early (0.21 at epoch 7) and
then fall to 0.17, the shape of implicit's own curve. Triples are processed in large vectorised batches: each
batch's gradient is computed at once and scattered with ``index_add_`` (summed, like Hogwild SGD on the
same samples). Updates are SGD with a learning rate; rows hit by many samples of a batch move by the sum
of their per-sample steps, so ``learning_rate`` is per sample, as in implicit. Whether the user has j is
checked with a small hashed bit array (:class:`_PairFilter`): never misses a true interaction, and the
few false alarms are simply redrawn. On a CPU an epoch runs single-threaded (see
:func:`recsys.device.cpu_threads`), and from ``COMPILE_FROM_SAMPLES`` triples in a
whole run on (with at least ``COMPILE_FROM_EPOCH_SAMPLES`` an epoch), the batch update is one loop
compiled by ``torch.compile`` (op by op where compiling is not possible).

Fold-in: a new user's factor is the ridge least-squares fit of ``p . (q_i - q_mean) ~ m`` over their
history, where ``m`` is the mean margin trained users give their own items over the average item.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recsys.data import Catalog, Interactions
from recsys.device import cpu_threads
from recsys.models.als import ridge_attribution, ridge_fold_in
from recsys.models.base import Recommender
from recsys.models.products import scores_product
from recsys.models.settings import (
    BATCH_SIZE,
    EPOCHS,
    FACTORS,
    ITERATIVE,
    LEARNING_RATE,
    REGULARIZATION,
    Setting,
)


class BPR(Recommender):
    """Matrix factorisation trained to rank each user's items above items they have not touched."""

    name = "bpr"
    description = (
        "BPR: learns to rank what each person played above what they did not (implicit feedback); good for "
        "large catalogues and sparse data."
    )
    feedback = "implicit"
    iterative = True
    settings = (
        FACTORS,
        LEARNING_RATE.but(default=0.05, tune=(0.005, 0.5)),
        REGULARIZATION.but(default=0.01, tune=(1e-5, 0.1)),
        EPOCHS.but(default=50, tune=(5, 200)),
        BATCH_SIZE.but(default=None, optional=True, none_means="automatic",
                       help="Comparisons per update step (empty: automatic, a twentieth of a pass)."),
        Setting("verify_negatives", "bool", True, "Skip items people already have",
                "Redraw a comparison item when the person already has it (a little slower, a little better)."),
        Setting("negative_sampling", "choice", "uniform", "Comparison items",
                "Which items the model learns to rank below each person's own.",
                choices=("uniform", "popularity"),
                choice_labels=("Any item, equally often", "Popular items more often (as the implicit library)")),
        *ITERATIVE,
    )

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        epochs: int = 50,
        batch_size: int | None = None,
        verify_negatives: bool = True,
        negative_sampling: str = "uniform",
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
        self.negative_sampling = negative_sampling
        self.seed = seed
        self.device = device
        self.validate_every = validate_every
        self.patience = patience

    def _batch(self) -> int:
        """Triples per step: ``batch_size`` when given, else a twentieth of an epoch, between 1024 and
        16384 on a CPU (1M on a GPU). A row hit by many triples of one step moves by the sum of their
        steps, so steps stay small next to the data: on the demo, batches of 4k reach implicit's NDCG
        where batches of 64k (most of the data at once) lose 0.02. On a CPU, a batch's 64-factor row
        buffers stay small enough to be reused from the heap: at 10M interactions the update took
        3.6 s per epoch with batches of 8k-32k and 6-7.8 s with 64k, whose 16 MB buffers were mapped
        fresh (page faults) every step."""
        if self.batch_size:
            return int(self.batch_size)
        cap = 2**20 if self.device_.type == "cuda" else 2**14
        return int(min(cap, max(1024, self._samples // 20)))

    def _start_training(self, train: Interactions, catalog: Catalog | None) -> None:
        device = self.device_
        csr = self.user_items_
        k = int(self.factors)
        self._generator = torch.Generator(device=device).manual_seed(int(self.seed))
        init = torch.Generator().manual_seed(int(self.seed))
        self.user_factors_ = ((torch.rand(self.n_users_, k, generator=init) - 0.5) / k).to(device)
        self.item_factors_ = ((torch.rand(self.n_items_, k, generator=init) - 0.5) / k).to(device)
        self.item_bias_ = torch.zeros(self.n_items_, device=device)
        # the positives: interaction n is (users[n], items[n]), int32 unless the data is huge; on a CPU
        # the item numbers are the CSR's own array, shared. (Finding each pick's user by a binary search
        # of the row ends instead of keeping users[] saves 4 bytes an interaction but took 0.6 s of a
        # 6 s epoch at 10M.)
        users = np.repeat(np.arange(csr.shape[0], dtype=csr.indices.dtype), np.diff(csr.indptr))
        self._users = torch.from_numpy(users).to(device)
        self._items = torch.from_numpy(csr.indices).to(device)
        self._seen = _PairFilter(users, csr.indices, self.n_items_, device)
        self._samples = csr.nnz  # triples per epoch

    def _draw_items(self, count: int) -> torch.Tensor:
        """``count`` candidate negatives: uniform over the catalogue, or with ``negative_sampling=
        "popularity"`` the item of a uniformly drawn interaction (as implicit's CPU BPR samples)."""
        if self.negative_sampling == "popularity":
            picks = torch.randint(0, self._samples, (count,), generator=self._generator, device=self.device_,
                                  dtype=self._users.dtype)
            return self._items.index_select(0, picks)
        return torch.randint(0, self.n_items_, (count,), generator=self._generator, device=self.device_)

    def _negatives(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative items for each user, redrawn (up to 3 times) where the user may have them; returns
        the items and a mask of the samples whose negative is surely not one of the user's items."""
        negatives = self._draw_items(len(users))
        if not self.verify_negatives:
            return negatives, torch.ones_like(users, dtype=torch.bool)
        clash = self._seen.may_contain(users, negatives)
        for _ in range(3):
            redo = torch.nonzero(clash).squeeze(1)
            if len(redo) == 0:
                break
            redraw = self._draw_items(len(redo))
            negatives[redo] = redraw
            clash[redo] = self._seen.may_contain(users[redo], redraw)
        return negatives, ~clash

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        samples, batch = self._samples, self._batch()
        lr, decay = float(self.learning_rate), float(self.learning_rate) * float(self.regularization)
        update = self._update_function()
        totals = torch.zeros(2, device=self.device_, dtype=torch.float64)
        # every batch has the same size (the last one's surplus samples are masked out): one compiled shape
        positions = torch.arange(batch, device=self.device_)
        rows = tuple(torch.empty(batch, self.user_factors_.shape[1], device=self.device_) for _ in range(3))
        with torch.no_grad(), cpu_threads(1 if self.device_.type == "cpu" else None):
            for start in range(0, samples, batch):
                # sorted: the batch reads and writes factor rows in memory order (the summed update is
                # the same in any order)
                pick = torch.randint(0, samples, (batch,), generator=self._generator, device=self.device_,
                                     dtype=self._users.dtype).sort()[0]  # int32 sorts ~3x faster
                u = self._users.index_select(0, pick)
                i = self._items.index_select(0, pick)
                j, valid = self._negatives(u)
                if start + batch > samples:
                    valid &= positions < samples - start
                totals += update(self.user_factors_, self.item_factors_, self.item_bias_, u, i, j,
                                 valid.float(), lr, decay, rows=rows)
        return {"loss": float(totals[0]) / max(1, samples), "correct": float(totals[1]) / max(1, samples)}

    def _update_function(self):
        """The batch update: compiled (one fused, single-threaded loop) for large data on a CPU when
        torch can compile here, else the same function run op by op."""
        large = self._samples >= COMPILE_FROM_EPOCH_SAMPLES and self._samples * int(self.epochs) >= COMPILE_FROM_SAMPLES
        if self.device_.type == "cpu" and large and _COMPILED.get("step", 1) is not None:
            return compiled_sgd_step
        return sgd_step

    def _finish_training(self) -> None:
        del self._users, self._items, self._seen, self._generator
        self._set_fold_in_margin()

    def _set_fold_in_margin(self) -> None:
        # mean of p_u . (q_i - q_mean) over the training interactions: how far trained users put their
        # items above the average item (the fold-in target). As sums over items and factors:
        # sum_(u,i) p_u . q_i = sum_i q_i . (X^T P)_i and sum_(u,i) p_u . q_mean = (counts @ P) . q_mean,
        # so the only temporary is items x factors
        csr = self.user_items_
        binary = sp.csr_matrix((np.ones(csr.nnz, np.float32), csr.indices, csr.indptr), shape=csr.shape)
        per_item = torch.as_tensor(binary.T @ self.user_factors_.cpu().numpy(), device=self.device_)
        del binary
        counts = torch.as_tensor(np.diff(csr.indptr).astype(np.float32), device=self.device_)
        on_items = torch.dot(per_item.view(-1), self.item_factors_.reshape(-1))
        on_mean = torch.dot(counts @ self.user_factors_, self.item_factors_.mean(0))
        self.fold_in_margin_ = float(on_items - on_mean) / max(1, csr.nnz)

    # -- scoring ------------------------------------------------------------------------------
    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        return scores_product(self.user_factors_[users], self.item_factors_, self.item_bias_)  # bias in the same pass

    def _fold_in(self, history: sp.csr_matrix) -> torch.Tensor:
        """Each row's factor: ``argmin_p sum_i (p . (q_i - q_mean) - m)^2 + reg |p|^2`` over the row's
        items, with ``m = fold_in_margin_``. BPR only learns differences between items, so the new user
        is fitted to prefer their items over the average item by the margin trained users show."""
        return ridge_fold_in(self._centred_items(), history, self._weight, self._margin, self._fold_in_ridge())

    def _centred_items(self) -> torch.Tensor:
        return self.item_factors_ - self.item_factors_.mean(0)

    def _fold_in_ridge(self) -> float:
        """Ridge of the fold-in solve, relative to the scale of the item factors: ``FOLD_IN_RIDGE`` times
        the mean squared norm of the centred item factors. (Measured on the demo: fold-in NDCG@10 0.173
        with a ridge of 0.001, 0.190 at 0.01, 0.23 at 3-10 times that mean norm, falling again beyond.)"""
        centred = self._centred_items()
        return FOLD_IN_RIDGE * max(float((centred * centred).sum(1).mean()), 1e-6)

    def _weight(self, values: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(values)

    def _margin(self, values: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.full_like(values, float(self.fold_in_margin_))

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        if hasattr(self, "_generator"):  # still training (validating held-out people): today's margin
            self._set_fold_in_margin()
        return scores_product(self._fold_in(history), self.item_factors_, self.item_bias_)

    def item_embeddings(self) -> torch.Tensor:
        return self.item_factors_

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        """Factor attribution of the fold-in solve (as implicit's ALS explain): with ``c_j = q_j -
        q_mean``, history item j adds ``m c_i^T W^-1 c_j`` where ``W = sum_j c_j c_j^T + reg I``; these
        sum to the fold-in score of item i above the average item, less its bias."""
        centred = self._centred_items()
        return ridge_attribution(centred, history, values, self._weight, self._margin, self._fold_in_ridge(), item)


def sgd_step(
    users_f: torch.Tensor, items_f: torch.Tensor, bias: torch.Tensor, u: torch.Tensor, i: torch.Tensor,
    j: torch.Tensor, valid: torch.Tensor, lr: float, decay: float, apply=None,
    rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """One batch of BPR SGD steps on triples (u, i, j), summed into the rows they touch, in place.
    ``valid`` (0/1) masks samples out. Returns (sum of -log sigmoid(x_uij), count of x_uij > 0).

    The factor rows are gathered here, op by op (a row copy each, into ``rows`` when given: buffers
    reused from batch to batch); ``apply`` (default :func:`apply_step`) does the arithmetic and the
    scatters, the part worth compiling."""
    buffers = rows or (None, None, None)
    pu, qi, qj = (torch.index_select(source, 0, index, out=buffer)
                  for source, index, buffer in zip((users_f, items_f, items_f), (u, i, j), buffers, strict=True))
    return (apply or apply_step)(users_f, items_f, bias, u, i, j, pu, qi, qj, valid, lr, decay)


def apply_step(
    users_f: torch.Tensor, items_f: torch.Tensor, bias: torch.Tensor, u: torch.Tensor, i: torch.Tensor,
    j: torch.Tensor, pu: torch.Tensor, qi: torch.Tensor, qj: torch.Tensor, valid: torch.Tensor, lr: float,
    decay: float,
) -> torch.Tensor:
    """The update of :func:`sgd_step` given the gathered rows ``pu, qi, qj`` (copies, so the scatters
    below never change what the gradient reads)."""
    diff = qi - qj
    bi, bj = bias[i], bias[j]
    x = (pu * diff).sum(1) + bi - bj
    g = (torch.sigmoid(-x) * valid * lr).unsqueeze(1)  # d log sigmoid(x) / dx, times the step
    users_f.index_add_(0, u, g * diff - decay * pu)
    items_f.index_add_(0, i, g * pu - decay * qi)
    items_f.index_add_(0, j, -g * pu - decay * qj)
    bias.index_add_(0, i, g[:, 0] - decay * bi)
    bias.index_add_(0, j, -g[:, 0] - decay * bj)
    return torch.stack([(-F.logsigmoid(x) * valid).sum(), ((x > 0).float() * valid).sum()]).double()


FOLD_IN_RIDGE = 5.0
# triples over all epochs from which compiling pays: it costs ~10 s once per shape (less from the on-disk
# cache) and saves ~1.5 us a triple (at 1M interactions an epoch took 2.1 s op by op, ~0.5 s compiled)
COMPILE_FROM_SAMPLES = 5_000_000
# ...and only when an epoch is that large: below it the rows stay in cache and op by op is as fast (the
# demo's 80k triples take 0.04 s an epoch), while each new shape or learning rate (every tuning trial)
# would cost a compilation
COMPILE_FROM_EPOCH_SAMPLES = 500_000
_COMPILED: dict[str, object] = {}


def compiled_sgd_step(*args, rows=None):
    """:func:`sgd_step` with :func:`apply_step` compiled by torch's inductor (CPU), falling back to the
    op-by-op step for good where compiling fails (no C++ compiler, an unsupported platform). The profile
    is all gathers and scatters of factor rows: compiled, the arithmetic and the three scatters run as
    one loop nest without the temporaries (~5x faster than op by op at 10M interactions), and the row
    gathers stay outside, where each is one copy per row (compiling them too was ~20% slower: the
    fused loops gather the same rows again). Compilation happens before anything is written, so a
    failure changes nothing."""
    compiled = _COMPILED.get("step", "unset")
    if compiled == "unset":
        compiled = _COMPILED["step"] = torch.compile(apply_step, dynamic=False, fullgraph=True)
    if compiled is None:
        return sgd_step(*args, rows=rows)
    try:
        return sgd_step(*args, apply=compiled, rows=rows)
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: run op by op
        warnings.warn(f"BPR runs uncompiled (slower): torch.compile failed here ({exc})", stacklevel=2)
        _COMPILED["step"] = None
        return sgd_step(*args, rows=rows)


class _PairFilter:
    """Answers "may user u have item i?" for many pairs at once, never wrongly "no".

    A bit array (a one-hash Bloom filter) of about 16 bits per interaction: a pair hashes to one bit,
    set for every training pair. "Yes" for a pair the user does not have happens with probability about
    1/16; the caller redraws those. One random read per query, where a binary search over all pairs
    takes ~24."""

    MULTIPLIER = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64 (Fibonacci hashing)

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int, device: torch.device,
                 chunk: int = 2**16) -> None:
        self.n_items = int(n_items)
        self.bits = max(10, int(np.ceil(np.log2(max(1, 16 * len(users))))))
        table = np.zeros(1 << max(0, self.bits - 6), dtype=np.uint64)
        for start in range(0, len(users), chunk):  # in small chunks: no temporaries left in the heap
            keys = torch.from_numpy(users[start : start + chunk].astype(np.int64) * self.n_items
                                    + items[start : start + chunk])
            positions = self._hash(keys).numpy()
            bits = np.left_shift(np.uint64(1), (positions & 63).astype(np.uint64))
            np.bitwise_or.at(table, positions >> 6, bits)
        self.table = torch.from_numpy(table.view(np.int64)).to(device)

    def _hash(self, keys: torch.Tensor) -> torch.Tensor:
        return ((keys * self.MULTIPLIER) >> (64 - self.bits)) & ((1 << self.bits) - 1)

    def may_contain(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        positions = self._hash(users.long() * self.n_items + items.long())
        return ((self.table.index_select(0, positions >> 6) >> (positions & 63)) & 1).bool()
