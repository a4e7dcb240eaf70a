"""Neighbourhood models: item-based and user-based cosine k-nearest neighbours.

Similarity of two vectors ``a`` and ``b`` (item columns or user rows of the interaction matrix) is the
asymmetric cosine ``a.b / (|a|^(2*asymmetry) * |b|^(2*(1-asymmetry)) + shrinkage)``; ``asymmetry=0.5``
and ``shrinkage=0`` give the plain cosine. Scores are sums of similarities of neighbours, so every score
decomposes exactly into the contributions of the user's history items (``explain``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data import Catalog, Interactions
from recsys.models.als import torch_csr
from recsys.models.base import Recommender
from recsys.models.settings import DEVICE, USE_VALUES, Setting

_BLOCK_ENTRIES = 2**24  # dense block size (float32 entries, 64 MB) when computing similarities


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """A copy of ``matrix`` with every stored entry set to 1."""
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    return out


def _interaction_matrix(matrix: sp.csr_matrix, use_values: bool) -> sp.csr_matrix:
    """The matrix the neighbourhoods are computed on: the values (float32) or, by default, ones."""
    return sp.csr_matrix(matrix, dtype=np.float32) if use_values else _binary(matrix)


NEIGHBORS = Setting(
    "neighbors", "int", 50, "Neighbours", "How many similar items or people each recommendation draws on.",
    low=1, high=100_000, tune=(5, 1000), log=True,
)
SHRINKAGE = Setting(
    "shrinkage", "float", 0.0, "Shrinkage", "Damps similarities computed from only a few shared interactions.",
    low=0.0, high=1e6, tune=(0.0, 200.0),
)
ASYMMETRY = Setting(
    "asymmetry", "float", 0.5, "Asymmetry",
    "0.5 is the plain cosine; higher values let popular items be recommended more, lower ones favour niche items.",
    low=0.0, high=1.0, tune=(0.0, 1.0),
)


def _dense(matrix: sp.spmatrix, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(matrix.toarray(), dtype=np.float32), device=device)


class ItemKNN(Recommender):
    """Item-based neighbours. ``S[h, j]`` is the similarity of history item ``h`` to target item ``j``,
    kept only for the ``neighbors`` most similar ``h`` of each ``j``; ``score(u, j) = sum_h x_uh S[h, j]``.

    Item columns are compared after weighting each user's row by ``1 / log2(2 + n_u)`` when
    ``user_weighting`` is on (very active users say less about any one pair of items).
    ``use_values`` uses ratings/weights instead of 1 for every interaction.
    """

    name = "itemknn"
    description = (
        "Item-to-item neighbours: 'people who liked this also liked'. Fast, easy to explain; implicit feedback."
    )
    feedback = "implicit"
    similarity_basis = (
        "the cosine of who interacted with them, very active people counting a little less (1 = exactly the "
        "same people, 0 = nobody in common)"
    )
    settings = (
        NEIGHBORS,
        SHRINKAGE,
        ASYMMETRY.but(default=0.6),
        Setting("user_weighting", "bool", True, "Discount very active people",
                "People with long histories say less about any one pair of items."),
        USE_VALUES,
        DEVICE,
    )

    def __init__(
        self,
        neighbors: int = 50,
        shrinkage: float = 0.0,
        asymmetry: float = 0.6,
        user_weighting: bool = True,
        use_values: bool = False,
        device: str | None = None,
    ) -> None:
        self.neighbors = neighbors
        self.shrinkage = shrinkage
        self.asymmetry = asymmetry
        self.user_weighting = user_weighting
        self.use_values = use_values
        self.device = device

    # -- training ------------------------------------------------------------------------------
    def _weighted_matrix(self) -> sp.csr_matrix:
        """The users x items matrix the similarities are computed from (user weighting applied)."""
        matrix = _interaction_matrix(self.user_items_, self.use_values)
        if self.user_weighting:
            per_user = np.diff(matrix.indptr)
            weights = 1.0 / np.sqrt(np.log2(2.0 + per_user))  # squared in every product of two columns
            matrix = sp.csr_matrix(sp.diags(weights.astype(np.float32)) @ matrix)
        return matrix

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        weighted = self._weighted_matrix().tocsc()
        sq_norms = np.asarray(weighted.multiply(weighted).sum(axis=0)).ravel().astype(np.float32)
        self.item_sq_norms_ = sq_norms
        n_items = self.n_items_
        k = int(min(self.neighbors, max(1, n_items - 1)))
        cross = torch_csr(weighted.T.tocsr(), self.device_)  # items x users
        history_norm = torch.as_tensor(sq_norms, device=self.device_).pow(float(self.asymmetry))
        target_pow = float(1.0 - self.asymmetry)
        block = max(1, min(n_items, _BLOCK_ENTRIES // max(1, n_items), _BLOCK_ENTRIES // max(1, self.n_users_)))
        rows, cols, vals = [], [], []
        for start in range(0, n_items, block):
            targets = np.arange(start, min(n_items, start + block))
            columns = _dense(weighted[:, targets], self.device_)  # users x block
            sims = torch.sparse.mm(cross, columns)  # items x block: co-occurrence with each target
            target_norm = torch.as_tensor(sq_norms[targets], device=self.device_).pow(target_pow)
            sims.div_(torch.outer(history_norm, target_norm).add_(float(self.shrinkage) + 1e-12))
            sims[torch.as_tensor(targets, device=self.device_), torch.arange(len(targets))] = 0.0
            top_sims, top_items = torch.topk(sims, k, dim=0)  # k x block
            keep = top_sims > 0
            rows.append(top_items.T[keep.T].cpu().numpy())  # history item h, grouped by target
            cols.append(np.repeat(targets, keep.sum(dim=0).cpu().numpy()))  # target item j
            vals.append(top_sims.T[keep.T].cpu().numpy())
        self.similarity_ = sp.csr_matrix(
            (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
        )
        self._similarity_t = None

    def _after_load(self) -> None:
        self._similarity_t = None

    def _similarity_transposed(self) -> torch.Tensor:
        """``S.T`` (targets x history items) as a sparse tensor on the device, built once."""
        if getattr(self, "_similarity_t", None) is None:
            self._similarity_t = torch_csr(self.similarity_.T.tocsr(), self.device_)
        return self._similarity_t

    # -- scoring -------------------------------------------------------------------------------
    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        rows = _dense(_interaction_matrix(history, self.use_values), self.device_)  # batch x items
        return torch.sparse.mm(self._similarity_transposed(), rows.T).T

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        weights = np.asarray(self.similarity_[history, item].toarray()).ravel()
        strength = values if self.use_values else np.ones(len(history), np.float32)
        return (weights * strength).astype(np.float32)

    def _similarity_vectors(self) -> sp.csr_matrix:
        """Each item's column of the (user-weighted) interaction matrix: the plain cosine of who
        interacted with it, not only the kept neighbours."""
        return self._weighted_matrix().T.tocsr()


class UserKNN(Recommender):
    """User-based neighbours: the ``neighbors`` users most similar to ``u`` (asymmetric cosine of
    binary rows, raised to ``exponent``) vote for their items: ``score(u, j) = sum_v sim(u, v) x_vj``.

    New users (fold-in) are compared with every training user the same way.
    """

    name = "userknn"
    description = "User-to-user neighbours: 'people like you also liked'. Good on small data; implicit feedback."
    feedback = "implicit"
    similarity_basis = "the cosine of who interacted with them (1 = exactly the same people, 0 = nobody in common)"
    settings = (
        NEIGHBORS,
        SHRINKAGE,
        ASYMMETRY.but(default=0.4, help="0.5 is the plain cosine; higher values let people with long histories "
                      "count more as neighbours."),
        Setting("exponent", "float", 3.0, "Sharpness",
                "Raises each similarity to this power, so the closest people count far more.",
                low=0.0, high=20.0, tune=(1.0, 6.0)),
        USE_VALUES,
        DEVICE,
    )

    def __init__(
        self,
        neighbors: int = 50,
        shrinkage: float = 0.0,
        asymmetry: float = 0.4,
        exponent: float = 3.0,
        use_values: bool = False,
        device: str | None = None,
    ) -> None:
        self.neighbors = neighbors
        self.shrinkage = shrinkage
        self.asymmetry = asymmetry
        self.exponent = exponent
        self.use_values = use_values
        self.device = device

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        matrix = _interaction_matrix(self.user_items_, self.use_values)
        self.user_sq_norms_ = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel().astype(np.float32)
        self._after_load()

    def _after_load(self) -> None:
        self._matrix_t = None

    def _matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(users x items, items x users) sparse tensors on the device, built once."""
        if getattr(self, "_matrix_t", None) is None:
            matrix = _interaction_matrix(self.user_items_, self.use_values)
            self._matrix_t = (torch_csr(matrix, self.device_), torch_csr(matrix.T.tocsr(), self.device_))
        return self._matrix_t

    def _neighbours(
        self, history: sp.csr_matrix, exclude: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each history row: (top neighbour users, their similarity^exponent), both (rows, k).
        ``exclude[r]`` is a user number never to pick for row ``r`` (the user themself), or -1."""
        matrix, _ = self._matrices()
        rows = _interaction_matrix(history, self.use_values)
        row_sq = torch.as_tensor(np.asarray(rows.multiply(rows).sum(axis=1)).ravel(), device=self.device_)
        gram = torch.sparse.mm(matrix, _dense(rows, self.device_).T).T  # rows x users
        user_sq = torch.as_tensor(self.user_sq_norms_, device=self.device_)
        denom = row_sq[:, None].pow(float(self.asymmetry)) * user_sq[None, :].pow(1.0 - float(self.asymmetry))
        sims = gram / (denom + float(self.shrinkage) + 1e-12)
        if exclude is not None:
            mine = np.flatnonzero(exclude >= 0)
            sims[torch.as_tensor(mine, device=self.device_), torch.as_tensor(exclude[mine], device=self.device_)] = 0
        k = int(min(self.neighbors, self.n_users_))
        top_sims, top_users = torch.topk(sims, k, dim=1)
        return top_users, top_sims.clamp(min=0).pow(float(self.exponent))

    def _score_rows(self, history: sp.csr_matrix, exclude: np.ndarray | None) -> torch.Tensor:
        _, matrix_t = self._matrices()
        out = []
        chunk = max(1, _BLOCK_ENTRIES // max(1, self.n_users_, self.n_items_))
        for start in range(0, history.shape[0], chunk):
            part = history[start : start + chunk]
            users, weights = self._neighbours(part, None if exclude is None else exclude[start : start + chunk])
            votes = torch.zeros(part.shape[0], self.n_users_, device=self.device_)
            votes.scatter_(1, users, weights)
            out.append(torch.sparse.mm(matrix_t, votes.T).T)
        return torch.cat(out) if out else torch.zeros(0, self.n_items_, device=self.device_)

    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        numbers = users.cpu().numpy()
        return self._score_rows(self.user_items_[numbers], exclude=numbers)

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        return self._score_rows(sp.csr_matrix(history), exclude=None)

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        """Each neighbour's vote for ``item`` is shared among the history items in proportion to how
        much each added to the similarity with that neighbour; the shares sum to the score."""
        row = self.user_items_[[user]]
        users, weights = self._neighbours(row, exclude=np.array([user]))
        users, weights = users[0].cpu().numpy(), weights[0].cpu().numpy()
        matrix = _interaction_matrix(self.user_items_, self.use_values)
        votes = np.asarray(matrix[users, item].toarray()).ravel() * weights  # per neighbour
        mine = np.asarray(_interaction_matrix(row, self.use_values)[0, history].toarray()).ravel()
        overlap = np.asarray(matrix[users][:, history].toarray()) * mine[None, :]  # neighbours x history
        totals = overlap.sum(axis=1, keepdims=True)
        shares = np.divide(overlap, totals, out=np.zeros_like(overlap), where=totals > 0)
        return (votes @ shares).astype(np.float32)

    def _similarity_vectors(self) -> sp.csr_matrix:
        """Each item's column of the interaction matrix (who interacted with it)."""
        return _interaction_matrix(self.user_items_, self.use_values).T.tocsr()
