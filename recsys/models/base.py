"""The model contract every recommender follows, and everything written once for all of them.

A model (scikit-learn style): hyperparameters are constructor arguments with working defaults and no
logic in ``__init__``; learned state is stored in attributes ending in ``_``; ``fit`` returns ``self``.

Each model declares its hyperparameters once, in its own file, as ``settings`` (a tuple of
:class:`recsys.models.settings.Setting`: type, default, allowed values, plain label, help), in the order of
its constructor's arguments, with the same defaults (a contract test holds both). ``set_params`` and
``fit`` check every value against those declarations, so a bad value is refused at once with one line.

A model implements only what is specific to it:

* ``_fit(train, catalog)`` for one-shot models, or ``_start_training(train, catalog)`` plus
  ``_run_epoch(epoch) -> loss`` for iterative ones (``iterative = True``; the shared loop in
  :mod:`recsys.training` drives them);
* ``_score_users(users)``: a (batch, n_items) tensor of scores, higher is better;
* optionally ``_score_histories(history)`` for fold-in (a new user given some items),
  ``item_embeddings()`` and ``_explain``.

Top-k with seen-item filtering and allow/deny lists, ``similar_items``, ``explain``, fold-in
recommendations, and save/load as plain arrays (no pickle) live here, once.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from recsys.data import Catalog, Interactions, lookup_ids
from recsys.device import cpu_cache_bytes, cpu_threads, keep_heap_for, pick_device
from recsys.models.topk import top_k
from recsys.training import EpochCallback, TrainingDiverged, run_epochs, validation_ndcg

if TYPE_CHECKING:
    from recsys.models.settings import Setting

FORMAT_VERSION = 1
# Scores computed at once by ``recommend`` (users x items), on a CPU / on a GPU; None: half the CPU's
# last-level cache (score_batch_elements). On a CPU the block then stays in cache from the product to the
# top-k and its buffer is reused from the heap: at 200k users x 50k items on an Intel Xeon, top-10 for
# everyone took 25-29 s in blocks of 2^22 scores (16 MB) against 37-39 s in blocks of 2^26 (fresh 256 MB
# buffers, page-faulted each time) and 31-41 s in blocks of 2^20. A GPU wants large launches.
SCORE_BATCH_ELEMENTS: dict[str, int | None] = {"cpu": None, "cuda": 2**26}


def score_batch_elements(device: torch.device) -> int:
    """How many scores ``recommend`` computes at once on ``device`` (see ``SCORE_BATCH_ELEMENTS``): on a
    CPU by default half its last-level cache in float32 numbers (2^22 with a 32 MB L3)."""
    elements = SCORE_BATCH_ELEMENTS.get(device.type, SCORE_BATCH_ELEMENTS["cpu"])
    if elements is None:
        caches = cpu_cache_bytes()
        elements = max(caches[2], caches[max(caches)] // 2) // 4
    return int(elements)


class ModelError(ValueError):
    """A model cannot do what was asked (too large for memory, needs a catalogue, no fold-in...).
    The message says why and what to change."""


class Recommender:
    """Base class of every Tastemaker model."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    feedback: ClassVar[str] = "implicit"  # "implicit", "explicit" or "both"
    iterative: ClassVar[bool] = False
    needs_catalog: ClassVar[bool] = False
    supports_fold_in: ClassVar[bool] = True
    # What item similarity means for this model, completing "How alike two items are: ..."
    similarity_basis: ClassVar[str] = (
        "the cosine of their vectors in the model (1 = same direction, 0 = unrelated, below 0 = opposite)"
    )
    settings: ClassVar[tuple[Setting, ...]] = ()  # every constructor argument, declared (see above)

    # -- hyperparameters ---------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {n: p.default for n, p in sig.parameters.items() if n != "self"}

    @classmethod
    def setting(cls, name: str) -> Setting:
        """The declaration of setting ``name``; ``ModelError`` naming every setting when there is none."""
        for setting in cls.settings:
            if setting.name == name:
                return setting
        raise ModelError(f"{cls.name} has no setting {name!r}; its settings are {cls._names_in_words()}.")

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` checked against the declarations and converted to their types (text from the command
        line included). Raises ``ModelError`` with one line: the unknown names and the model's settings,
        or the first bad value, what it must be and what it was."""
        unknown = [key for key in params if key not in {s.name for s in cls.settings}]
        if unknown:
            names = ", ".join(repr(key) for key in unknown)
            raise ModelError(f"{cls.name} has no setting {names}; its settings are {cls._names_in_words()}.")
        return {key: cls.setting(key).check(value, cls.name) for key, value in params.items()}

    @classmethod
    def _names_in_words(cls) -> str:
        return ", ".join(s.name for s in cls.settings) if cls.settings else "none (nothing to set)"

    def get_params(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self.param_names()}

    def set_params(self, **params: Any) -> Recommender:
        """Change settings, each checked against its declaration (``ModelError`` when one is unknown or
        not allowed; nothing is changed then)."""
        for key, value in self.check_params(params).items():
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self,
        train: Interactions,
        on_epoch: EpochCallback | None = None,
        *,
        validation: Interactions | None = None,
        validation_input: Interactions | None = None,
        catalog: Catalog | None = None,
    ) -> Recommender:
        """Learn from ``train``. Iterative models report each epoch to ``on_epoch`` (see
        :func:`recsys.training.run_epochs`) and, given ``validation``, its NDCG@10 every
        ``validate_every`` epochs. With ``validation_input`` (people held out of ``train``), the
        validation people are scored by fold-in of that history instead of their training rows."""
        self.begin_fit(train, catalog)
        if self.iterative:
            self._start_training(train, catalog)
            validate = None
            if validation is not None and len(validation):
                validate = validation_ndcg(self, validation, history=validation_input)
            try:
                self.history_ = run_epochs(
                    int(self.epochs),  # every iterative model has `epochs`
                    self._run_epoch,
                    on_epoch=on_epoch,
                    validate=validate,
                    validate_every=int(getattr(self, "validate_every", 5)),
                    patience=getattr(self, "patience", None),
                )
            except TrainingDiverged as exc:
                raise ModelError(f"{self.name}'s training went wrong: the loss became {exc.what} at epoch "
                                 f"{exc.epoch}. {self._divergence_advice()}") from exc
            self._finish_training()
        else:
            self._fit(train, catalog)
            self.history_ = []
        self.check_learned_values()
        return self

    def begin_fit(self, train: Interactions, catalog: Catalog | None = None) -> None:
        """What every fit does before learning: check the settings (constructor values too) and the
        catalogue, pick the device, and record the numbering and training matrix of ``train``. An
        engine that learns the parameters elsewhere (:mod:`recsys.engines.spark`) calls it too."""
        declared = {setting.name for setting in self.settings}
        self.set_params(**{k: v for k, v in self.get_params().items() if k in declared})  # constructor values too
        if self.needs_catalog and catalog is None:
            raise ModelError(f"{self.name} needs an item catalogue (titles, genres or tags): add one first.")
        self.device_ = pick_device(getattr(self, "device", None))
        self.n_users_ = train.n_users
        self.n_items_ = train.n_items
        self.user_ids_ = np.asarray(train.user_ids)
        self.item_ids_ = np.asarray(train.item_ids)
        self.user_items_ = train.to_csr(use_values=True)
        # What "I like this item" means for a new user (fold-in): the top of a rating scale, else 1.
        explicit = train.explicit and train.values is not None and len(train)
        self.liked_value_ = float(train.values.max()) if explicit else 1.0

    def check_learned_values(self) -> None:
        """``ModelError`` with advice when some learned number is NaN or infinite."""
        if not self._learned_values_are_finite():
            raise ModelError(f"{self.name}'s training went wrong: some learned values became NaN or infinite. "
                             f"{self._divergence_advice()}")

    def _divergence_advice(self) -> str:
        """What to change when training produced NaN or infinite values, naming the setting's value now."""
        params = self.get_params()
        if "learning_rate" in params:
            return f"Try a lower learning rate (now {params['learning_rate']:g})."
        if "regularization" in params:
            return f"Try a higher regularisation (now {params['regularization']:g})."
        return "Check the data for extreme values (ratings or counts far larger than the rest)."

    def _learned_values_are_finite(self) -> bool:
        """Whether every learned number is finite and, for iterative models (whose factors may be finite
        but too large to multiply), the scores of the first few users too."""
        for key, value in vars(self).items():
            if not key.endswith("_") or key.startswith("_") or key == "user_items_":
                continue
            if sp.issparse(value):
                value = value.data
            if not _all_finite(value):
                return False
        if not self.iterative or not self.n_users_:
            return True
        with torch.no_grad():
            return _all_finite(self._score_users(torch.arange(min(self.n_users_, 64), device=self.device_)))

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        raise NotImplementedError

    def _start_training(self, train: Interactions, catalog: Catalog | None) -> None:
        raise NotImplementedError

    def _run_epoch(self, epoch: int) -> float | dict[str, float]:
        raise NotImplementedError

    def _finish_training(self) -> None:
        """Called once after the last epoch (e.g. to drop optimiser state)."""

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "user_items_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ModelError(f"{self.name} has not been trained yet: call fit() first.")

    # -- scoring (model specific) ------------------------------------------------------------
    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        """Scores (len(users), n_items) for known users; default: fold-in of their training history."""
        rows = self.user_items_[users.cpu().numpy()]
        return self._score_histories(rows)

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        """Scores (n_rows, n_items) for users described only by a history matrix (fold-in)."""
        raise ModelError(f"{self.name} cannot recommend for a new user without retraining.")

    def score(self, users: np.ndarray) -> np.ndarray:
        """Raw scores (len(users), n_items) as a float32 array; higher is better."""
        self._check_fitted()
        users_t = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.device_)
        with torch.no_grad():
            return self._score_users(users_t).float().cpu().numpy()

    # -- top-k (written once) ----------------------------------------------------------------
    def recommend(
        self,
        users: np.ndarray | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        allowed_items: np.ndarray | None = None,
        denied_items: np.ndarray | None = None,
        batch_size: int | None = None,
        exclude: sp.csr_matrix | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item numbers and scores for each user number (all users when ``None``).

        Items the user has in training are excluded unless ``exclude_seen=False``; ``exclude`` (a users x
        items matrix in this numbering, non-zero = leave out) removes more items per user, e.g. what
        they have outside the training part. ``allowed_items`` restricts the candidates (e.g. one genre),
        ``denied_items`` removes some. Where fewer than ``k`` candidates remain, rows are padded with
        item -1 and score -inf.
        """
        self._check_fitted()
        users = np.arange(self.n_users_) if users is None else np.asarray(users, dtype=np.int64)
        k = int(min(k, self.n_items_))
        candidates = self._candidate_mask(allowed_items, denied_items)
        if batch_size is None:
            batch_size = max(1, min(len(users), score_batch_elements(self.device_) // max(1, self.n_items_)))
        out_items = np.full((len(users), k), -1, dtype=np.int64)
        out_scores = np.full((len(users), k), -np.inf, dtype=np.float32)
        selecting = 1 if self.device_.type == "cpu" else None  # threads for the selection (cpu_threads)
        if self.device_.type == "cpu":
            keep_heap_for(4 * batch_size * self.n_items_)  # one block of scores, reused (see keep_heap_for)
        with torch.no_grad():
            for start in range(0, len(users), batch_size):
                batch = users[start : start + batch_size]
                scores = self._score_users(torch.as_tensor(batch, device=self.device_)).float()
                with cpu_threads(selecting):
                    if exclude_seen:
                        self._mask_rows(scores, self.user_items_[batch])
                    if exclude is not None:
                        self._mask_rows(scores, exclude[batch])
                    if candidates is not None:
                        scores[:, ~candidates] = -torch.inf
                    top_scores, top_items = best_k(scores, k)
                    top_items[torch.isneginf(top_scores)] = -1
                out_items[start : start + len(batch)] = top_items.cpu().numpy()
                out_scores[start : start + len(batch)] = top_scores.cpu().numpy()
        return out_items, out_scores

    def score_histories(self, history: sp.csr_matrix) -> np.ndarray:
        """Fold-in scores (n_rows, n_items) as a float32 array for people described only by ``history``
        (rows: people, columns: item numbers, values as in training), without retraining."""
        self._check_fitted()
        self._check_fold_in()
        with torch.no_grad():
            return self._score_histories(sp.csr_matrix(history)).float().cpu().numpy()

    def recommend_for_histories(
        self, history: sp.csr_matrix, k: int = 10, exclude_seen: bool = True, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (items, scores), one row per row of ``history`` (people not in training, e.g. the
        held-out people of the ``"users"`` split), by fold-in; their history items are left out unless
        ``exclude_seen=False``. Padded with item -1 and score -inf like :meth:`recommend`."""
        self._check_fitted()
        self._check_fold_in()
        history = sp.csr_matrix(history)
        n, k = history.shape[0], int(min(k, self.n_items_))
        if batch_size is None:
            batch_size = max(1, min(max(1, n), score_batch_elements(self.device_) // max(1, self.n_items_)))
        out_items = np.full((n, k), -1, dtype=np.int64)
        out_scores = np.full((n, k), -np.inf, dtype=np.float32)
        selecting = 1 if self.device_.type == "cpu" else None  # as in recommend
        if self.device_.type == "cpu":
            keep_heap_for(4 * batch_size * self.n_items_)
        with torch.no_grad():
            for start in range(0, n, batch_size):
                rows = history[start : start + batch_size]
                scores = self._score_histories(rows).float().to(self.device_)
                with cpu_threads(selecting):
                    if exclude_seen:
                        self._mask_rows(scores, rows)
                    top_scores, top_items = best_k(scores, k)
                    top_items[torch.isneginf(top_scores)] = -1
                out_items[start : start + rows.shape[0]] = top_items.cpu().numpy()
                out_scores[start : start + rows.shape[0]] = top_scores.cpu().numpy()
        return out_items, out_scores

    def _check_fold_in(self) -> None:
        if not self.supports_fold_in:
            raise ModelError(f"{self.name} cannot recommend for a new user without retraining.")

    def _candidate_mask(self, allowed: np.ndarray | None, denied: np.ndarray | None) -> torch.Tensor | None:
        if allowed is None and denied is None:
            return None
        mask = torch.zeros(self.n_items_, dtype=torch.bool, device=self.device_)
        if allowed is None:
            mask[:] = True
        else:
            mask[torch.as_tensor(np.asarray(allowed, dtype=np.int64), device=self.device_)] = True
        if denied is not None:
            mask[torch.as_tensor(np.asarray(denied, dtype=np.int64), device=self.device_)] = False
        return mask

    def _mask_rows(self, scores: torch.Tensor, rows: sp.csr_matrix) -> None:
        """Set ``scores[u, i]`` to -inf where row u of ``rows`` stores item i (by flat positions: one
        ``index_fill_``, 3-15x faster than an ``index_put`` of (row, column) pairs on a CPU)."""
        rows = sp.csr_matrix(rows)
        if not rows.nnz:
            return
        starts = np.arange(rows.shape[0], dtype=np.int64) * scores.shape[1]
        flat = np.repeat(starts, np.diff(rows.indptr)) + rows.indices
        flat = torch.as_tensor(flat, device=scores.device)
        if scores.is_contiguous():
            scores.view(-1).index_fill_(0, flat, -torch.inf)
        else:
            scores[flat // scores.shape[1], flat % scores.shape[1]] = -torch.inf

    def recommend_frame(self, user_ids=None, k: int = 10, **kwargs: Any) -> pd.DataFrame:
        """Recommendations in the file's own ids: columns ``user, item, rank, score`` (rank 1 is best).
        ``user_ids`` are original ids (all users when ``None``); unknown ids are skipped."""
        self._check_fitted()
        if user_ids is None:
            users = np.arange(self.n_users_)
        else:
            users = lookup_ids(self.user_ids_, user_ids)
            users = users[users >= 0]
        items, scores = self.recommend(users, k=k, **kwargs)
        valid = items >= 0
        rows, ranks = np.nonzero(valid)
        return pd.DataFrame(
            {
                "user": self.user_ids_[users[rows]],
                "item": self.item_ids_[items[valid]],
                "rank": ranks + 1,
                "score": scores[valid],
            }
        )

    # -- fold-in -----------------------------------------------------------------------------
    def recommend_for_history(
        self, items: np.ndarray, values: np.ndarray | None = None, k: int = 10, exclude_seen: bool = True,
        allowed_items: np.ndarray | None = None, denied_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` for a new user who likes ``items`` (item numbers), without retraining.
        Without ``values`` each item counts as liked: the top of the rating scale for a model trained on
        explicit ratings, 1 otherwise. Returns (items, scores) as 1-D arrays."""
        self._check_fitted()
        if not self.supports_fold_in:
            raise ModelError(f"{self.name} cannot recommend for a new user without retraining.")
        history = self._history_matrix(np.asarray(items, dtype=np.int64), values)
        with torch.no_grad():
            scores = self._score_histories(history).float().to(self.device_)
            if exclude_seen:
                self._mask_rows(scores, history)
            candidates = self._candidate_mask(allowed_items, denied_items)
            if candidates is not None:
                scores[:, ~candidates] = -torch.inf
            top_scores, top_items = best_k(scores[:1], int(min(k, self.n_items_)))
            top_scores, top_items = top_scores[0], top_items[0]
        keep = ~torch.isneginf(top_scores)
        return top_items[keep].cpu().numpy(), top_scores[keep].cpu().numpy()

    def _history_matrix(self, items: np.ndarray, values: np.ndarray | None = None) -> sp.csr_matrix:
        if values is None:
            data = np.full(len(items), getattr(self, "liked_value_", 1.0), np.float32)
        else:
            data = np.asarray(values, np.float32)
        return sp.csr_matrix((data, (np.zeros(len(items), np.int64), items)), shape=(1, self.n_items_))

    # -- similar items and explanations ------------------------------------------------------
    def item_embeddings(self) -> torch.Tensor | None:
        """A (n_items, d) tensor of item vectors, or ``None`` when the model has none."""
        return None

    def _similarity_vectors(self) -> torch.Tensor | sp.csr_matrix | None:
        """What this model's item similarity is the cosine of: one row per item, as a (n_items, d) tensor
        or scipy CSR matrix; None when the model has no notion of item similarity. Default: the item
        vectors (``item_embeddings()``). :attr:`similarity_basis` says it in words."""
        return self.item_embeddings()

    def _similarity_space(self) -> tuple[torch.Tensor | sp.csr_matrix, torch.Tensor]:
        """(similarity vectors, their norms on the device), worked out once per fitted model."""
        cache = getattr(self, "_similarity_cache", None)
        if cache is not None and cache[0] is self.user_items_:
            return cache[1], cache[2]
        vectors = self._similarity_vectors()
        if vectors is None:
            raise ModelError(f"{self.name} has no notion of item similarity.")
        if sp.issparse(vectors):
            vectors = sp.csr_matrix(vectors, dtype=np.float32)
            norms = torch.as_tensor(np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()),
                                    device=self.device_).float()
        else:
            vectors = vectors.detach().float()
            norms = torch.linalg.vector_norm(vectors, dim=1)
        self._similarity_cache = (self.user_items_, vectors, norms)
        return vectors, norms

    def _item_similarities(self, items: torch.Tensor, among: torch.Tensor | None = None) -> torch.Tensor:
        """Similarity (len(items), len(among)) of the given items to the items ``among`` (None: every
        item), on one scale for every model: the cosine of their similarity vectors (see
        :meth:`_similarity_vectors`), in [-1, 1], and exactly 1 for an item with itself (also an item
        whose vector is zero, such as one nobody interacted with)."""
        vectors, norms = self._similarity_space()
        if sp.issparse(vectors):
            left = torch.as_tensor(vectors[items.cpu().numpy()].toarray(), device=self.device_)
            if among is None:
                from recsys.models.als import torch_csr

                sims = torch.sparse.mm(torch_csr(vectors, self.device_), left.T).T
            else:
                sims = left @ torch.as_tensor(vectors[among.cpu().numpy()].toarray(), device=self.device_).T
        else:
            sims = vectors[items] @ (vectors if among is None else vectors[among]).T
        right = norms if among is None else norms[among]
        sims = (sims / (norms[items][:, None] * right[None, :]).clamp_min(1e-12)).clamp_(-1.0, 1.0)
        targets = torch.arange(self.n_items_, device=self.device_) if among is None else among
        sims[items[:, None] == targets[None, :]] = 1.0
        return sims

    def similar_items(self, item: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to item number ``item`` (itself excluded): (items, similarities),
        on the scale of :meth:`_item_similarities`."""
        self._check_fitted()
        with torch.no_grad():
            sims = self._item_similarities(torch.as_tensor([int(item)], device=self.device_))[0].float().clone()
            sims[int(item)] = -torch.inf
            top_sims, top_items = torch.topk(sims, int(min(k, self.n_items_ - 1)))
        keep = ~torch.isneginf(top_sims)
        return top_items[keep].cpu().numpy(), top_sims[keep].cpu().numpy()

    def item_similarity_matrix(self, items: np.ndarray) -> np.ndarray:
        """Pairwise similarities among the given items (for heatmaps): symmetric, 1 on the diagonal."""
        self._check_fitted()
        items_t = torch.as_tensor(np.asarray(items, dtype=np.int64), device=self.device_)
        with torch.no_grad():
            return self._item_similarities(items_t, among=items_t).float().cpu().numpy()

    def explain(self, user: int, item: int, n: int = 5) -> list[tuple[int, float]]:
        """The ``n`` items of ``user``'s training history that contributed most to ``item``'s score, as
        (item number, contribution), largest first. Contribution defaults to how much the score drops
        when that one history item is left out (leave-one-out fold-in); models with an exact
        decomposition (neighbour weights, factor attribution) override ``_explain``."""
        self._check_fitted()
        row = self.user_items_[int(user)]
        history, values = row.indices.astype(np.int64), row.data
        if len(history) == 0:
            return []
        with torch.no_grad():
            contributions = self._explain(int(user), history, values, int(item))
        order = np.argsort(-contributions, kind="stable")[:n]
        return [(int(history[i]), float(contributions[i])) for i in order]

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        if not self.supports_fold_in:
            return np.zeros(len(history), np.float32)
        full = self._history_matrix(history, values)
        n = len(history)
        keep = ~np.eye(n, dtype=bool)  # row i leaves out history item i
        rows = np.nonzero(keep)[0]
        cols = np.tile(history, n)[keep.ravel()]
        data = np.tile(values, n)[keep.ravel()].astype(np.float32)
        without = sp.csr_matrix((data, (rows, cols)), shape=(n, self.n_items_))
        base = self._score_histories(full)[0, item].float().item()
        dropped = self._score_histories(without)[:, item].float().cpu().numpy()
        return (base - dropped).astype(np.float32)

    # -- persistence (plain arrays + JSON; never pickle) -------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``model.json`` (name, hyperparameters, scalars) and ``arrays.npz`` into directory
        ``path``, atomically: a crash leaves either the old model or the new one, never half of one."""
        self._check_fitted()
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, Any] = {}
        kinds: dict[str, str] = {}
        for key, value in vars(self).items():
            if not key.endswith("_") or key.startswith("_") or key == "device_":
                continue
            if isinstance(value, torch.Tensor):
                arrays[key] = value.detach().cpu().numpy()
                kinds[key] = "tensor"
            elif sp.issparse(value):
                csr = sp.csr_matrix(value)
                arrays[f"{key}.data"], arrays[f"{key}.indices"] = csr.data, csr.indices
                arrays[f"{key}.indptr"], arrays[f"{key}.shape"] = csr.indptr, np.array(csr.shape)
                kinds[key] = "csr"
            elif isinstance(value, np.ndarray):
                arrays[key] = value.astype(str) if value.dtype == object else value
                kinds[key] = "array"
            elif isinstance(value, (int, float, str, bool, list, dict, type(None), np.integer, np.floating)):
                scalars[key] = value.item() if isinstance(value, (np.integer, np.floating)) else value
        meta = {"format": FORMAT_VERSION, "model": self.name, "params": self.get_params(),
                "scalars": scalars, "kinds": kinds}
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        with open(staging / "arrays.npz", "wb") as fh:
            np.savez(fh, **arrays)
        (staging / "model.json").write_text(json.dumps(meta, indent=1, default=str))
        _replace_dir(staging, path)
        return path

    @classmethod
    def _from_saved(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], device=None) -> Recommender:
        model = cls().set_params(**{k: v for k, v in meta["params"].items() if k in cls.param_names()})
        if device is not None and "device" in model.param_names():
            model.set_params(device=device)
        model.device_ = pick_device(getattr(model, "device", None))
        for key, kind in meta["kinds"].items():
            if kind == "tensor":
                setattr(model, key, torch.from_numpy(np.array(arrays[key])).to(model.device_))
            elif kind == "csr":
                shape = tuple(int(s) for s in arrays[f"{key}.shape"])
                setattr(model, key, sp.csr_matrix(
                    (arrays[f"{key}.data"], arrays[f"{key}.indices"], arrays[f"{key}.indptr"]), shape=shape))
            else:
                setattr(model, key, arrays[key])
        for key, value in meta["scalars"].items():
            setattr(model, key, value)
        model._after_load()
        return model

    def _after_load(self) -> None:
        """Hook for models that keep derived state not worth saving."""


def best_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best scores of each row and their items, best first. On a CPU the exact two-stage
    selection of :func:`recsys.models.topk.top_k` (ties to the lower item); on a GPU ``torch.topk``, one
    kernel a block, as before (the two-stage selection has not been timed on a card)."""
    if scores.device.type == "cpu":
        return top_k(scores, k)
    found = torch.topk(scores, k, dim=1)
    return found.values, found.indices


def _all_finite(value: Any) -> bool:
    """Whether a float tensor, float array or float holds no NaN or infinity (anything else: True). The
    smallest and largest entries tell, as NaN propagates through both: on a 9,742^2 matrix this takes
    40 ms where ``isfinite(x).all()`` took 1 s (its mask is as large as the matrix)."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point() or value.numel() == 0:
            return True
        return all(bool(torch.isfinite(end)) for end in torch.aminmax(value.detach()))
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating) or value.size == 0:
            return True
        return bool(np.isfinite(value.min()) and np.isfinite(value.max()))
    return not isinstance(value, float) or math.isfinite(value)


def _replace_dir(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``, replacing an existing directory with one rename each way."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        for f in old.iterdir():
            f.unlink()
        old.rmdir()


MAX_META_BYTES = 64 * 2**20  # model.json holds settings and a few numbers: anything larger is not ours
_SAVED_KINDS = ("tensor", "csr", "array")


def load_model(path: str | os.PathLike, device: str | None = None, kind: str | None = None) -> Recommender:
    """Load a model saved by :meth:`Recommender.save`: plain arrays only, never pickle.

    ``kind`` is the registry name the caller expects (e.g. the model a run recorded); a folder holding
    another kind is refused. Only regular files are read: a pipe, device or folder in place of
    ``model.json`` or ``arrays.npz`` is refused before anything is read from it, and a damaged file gives
    one sentence (``ModelError``), never a raw exception."""
    from recsys.models import MODELS

    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"No saved model in {path}: expected a folder with model.json and arrays.npz.")
    with _open_regular(path / "model.json") as fh:
        raw = fh.read(MAX_META_BYTES + 1)
    if len(raw) > MAX_META_BYTES:
        raise ModelError(f"{path / 'model.json'} is too large to be a Tastemaker model description.")
    try:
        meta = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        raise ModelError(f"{path / 'model.json'} is damaged (not valid JSON): train the model again.") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{path / 'model.json'} is damaged (not a model description): train the model again.")
    name = meta.get("model")
    if meta.get("format") != FORMAT_VERSION or name not in MODELS:
        raise ModelError(f"{path} holds a model this version of Tastemaker cannot read ({name!r}).")
    if kind is not None and name != kind:
        raise ModelError(f"{path} holds a model of kind {name} where kind {kind} was expected.")
    _check_meta(meta, path)
    with _open_regular(path / "arrays.npz") as fh:
        arrays = _read_arrays(fh, path / "arrays.npz")
    try:
        return MODELS[name]._from_saved(meta, arrays, device=device)
    except ModelError as exc:  # a stored setting (or the device asked for) that is not allowed
        raise ModelError(f"The {name} model in {path} cannot be loaded: {exc}") from exc
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
        raise ModelError(f"The {name} model in {path} is damaged ({detail}): train it again.") from exc


def _open_regular(file: Path):
    """``file`` opened for binary reading when it is a regular file; ``ModelError`` otherwise. A pipe
    is opened without waiting for a writer, and only to check what it is (no read ever blocks)."""
    try:
        if not stat.S_ISREG(os.stat(file).st_mode):
            raise ModelError(f"{file} is not a regular file (a pipe, device or folder): a saved model holds "
                             "plain files only.")
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise ModelError(f"No saved model in {file.parent}: {file.name} is missing.") from exc
    except OSError as exc:
        raise ModelError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the two looks
            raise ModelError(f"{file} is not a regular file: a saved model holds plain files only.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_meta(meta: dict[str, Any], path: Path) -> None:
    """``model.json`` has the shape :meth:`Recommender.save` writes: settings, and learned values whose
    names end in ``_`` (so a crafted file cannot replace a model's methods)."""
    fields = ("params", "scalars", "kinds")
    if not all(isinstance(meta.get(field), dict) for field in fields):
        raise ModelError(f"{path / 'model.json'} is damaged (no {', '.join(fields)}): train the model again.")
    for key in [*meta["scalars"], *meta["kinds"]]:
        if not (key.isidentifier() and key.endswith("_") and not key.startswith("_")):
            raise ModelError(f"{path / 'model.json'} is damaged (it names {key[:40]!r}): train the model again.")
    if any(kind not in _SAVED_KINDS for kind in meta["kinds"].values()):
        raise ModelError(f"{path / 'model.json'} is damaged (unknown array kinds): train the model again.")


def _read_arrays(fh, file: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` written by ``np.savez`` (stored, not compressed). Each array's header is
    read first: object arrays (pickle) and arrays claiming more bytes than the file holds are refused
    before any memory is set aside for them."""
    from numpy.lib import format as npy

    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(fh) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    raise ModelError(f"{file} is damaged (compressed arrays; Tastemaker stores them plain): "
                                     "train the model again.")
                with archive.open(info) as member:
                    version = npy.read_magic(member)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"array format {version}")
                    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                    shape, _, dtype = read_header(member)
                if dtype.hasobject or math.prod(shape) * dtype.itemsize > info.file_size:
                    raise ValueError(f"array {info.filename!r} is not plain data of the size it claims")
                with archive.open(info) as member:
                    arrays[info.filename.removesuffix(".npy")] = npy.read_array(member, allow_pickle=False)
    except ModelError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        detail = " ".join(str(exc).split())[:120]
        raise ModelError(f"{file} is damaged ({detail}): train the model again.") from exc
    return arrays
