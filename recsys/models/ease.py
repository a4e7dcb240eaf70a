"""EASE: Embarrassingly Shallow Autoencoder (Steck, 2019), in closed form on the device.

With ``G = X^T X`` (items x items co-occurrence of the binary matrix ``X``) and
``P = (G + regularization * I)^-1``, the item-item weights are ``B = I - P / diag(P)``: column ``j`` of
``B`` is the ridge regression of item ``j`` on every other item, with ``B[j, j] = 0``. A user's scores
are ``x_u @ B``, so each history item's contribution to an item is exact: ``B[h, j] * x_uh``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data import Catalog, Interactions
from recsys.device import available_memory
from recsys.models.als import torch_csr
from recsys.models.base import ModelError, Recommender
from recsys.models.settings import DEVICE, REGULARIZATION, Setting

MEMORY_FRACTION = 0.5  # of the free memory EASE may plan to use
WORKING_COPIES = 3  # G, its Cholesky factor and P are alive at once


def ease_memory_bytes(n_items: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes EASE needs for a catalogue of ``n_items``: a few dense items x items matrices."""
    return int(n_items) ** 2 * torch.empty(0, dtype=dtype).element_size() * WORKING_COPIES


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


class EASE(Recommender):
    """EASE item-item linear autoencoder. ``regularization`` is the ridge penalty lambda (larger for
    sparser data); ``precision`` is ``"float32"`` or ``"float64"`` for the inversion."""

    name = "ease"
    description = (
        "EASE: one closed-form item-to-item model, often the most accurate on small and mid-size "
        "catalogues (up to ~30k items); implicit feedback."
    )
    feedback = "implicit"
    similarity_basis = (
        "the cosine of their rows of item-to-item weights (1 = they raise the same other items in the same "
        "proportions, 0 = none in common)"
    )
    settings = (
        REGULARIZATION.but(default=200.0, low=1e-3, high=1e7, tune=(10.0, 10_000.0),
                           help="The ridge penalty: larger suits sparser data (typically 100 to 1,000)."),
        Setting("precision", "choice", "float32", "Precision", "Number precision of the one large inversion.",
                choices=("float32", "float64"),
                choice_labels=("Single (faster, half the memory)", "Double (more exact)")),
        DEVICE,
    )

    def __init__(self, regularization: float = 200.0, precision: str = "float32", device: str | None = None) -> None:
        self.regularization = regularization
        self.precision = precision
        self.device = device

    def _dtype(self) -> torch.dtype:
        return torch.float32 if self.precision == "float32" else torch.float64

    def _check_memory(self, n_items: int, dtype: torch.dtype) -> None:
        needed = ease_memory_bytes(n_items, dtype)
        free = available_memory(self.device_)
        if free is not None and needed > MEMORY_FRACTION * free:
            where = "GPU" if self.device_.type == "cuda" else "RAM"
            raise ModelError(
                f"EASE needs about {_gib(needed)} for {n_items:,} items ({n_items:,}^2 weights, "
                f"{WORKING_COPIES} working copies) but only {_gib(free)} of {where} is free. "
                "Use itemknn or ials for a catalogue this large, or drop rarely used items first."
            )

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        dtype = self._dtype()
        n_items = self.n_items_
        self._check_memory(n_items, dtype)
        binary = sp.csr_matrix(self.user_items_, dtype=np.float32, copy=True)
        binary.data[:] = 1.0
        if self.n_users_ < n_items:
            precision = self._precision_few_users(binary, dtype)
        else:
            precision = self._precision_direct(binary, dtype)
        diagonal = torch.diagonal(precision).clone()
        precision.div_(-diagonal[None, :])  # in place: B = -P / diag(P), a column per target item
        precision.diagonal().zero_()
        self.weights_ = precision.to(torch.float32).contiguous()

    def _precision_direct(self, binary: sp.csr_matrix, dtype: torch.dtype) -> torch.Tensor:
        """``P = (X^T X + lambda I)^-1`` by Cholesky: O(n_items^3)."""
        gram = torch.as_tensor((binary.T @ binary).toarray(), device=self.device_).to(dtype)
        gram.diagonal().add_(float(self.regularization))
        factor, info = torch.linalg.cholesky_ex(gram)
        del gram
        if int(info) != 0:
            raise ModelError("EASE could not invert the item matrix: raise regularization or use float64.")
        return torch.cholesky_inverse(factor)

    def _precision_few_users(self, binary: sp.csr_matrix, dtype: torch.dtype) -> torch.Tensor:
        """The same ``P`` through the Woodbury identity when there are fewer users than items:
        ``P = (I - X^T (lambda I + X X^T)^-1 X) / lambda``, which inverts only a users x users matrix."""
        lam = float(self.regularization)
        kernel = torch.as_tensor((binary @ binary.T).toarray(), device=self.device_).to(torch.float64)
        kernel.diagonal().add_(lam)
        dense = torch.as_tensor(binary.toarray(), device=self.device_).to(torch.float64)  # users x items
        solved = torch.linalg.solve(kernel, dense).to(dtype)  # (lambda I + X X^T)^-1 X
        del dense, kernel
        precision = torch.sparse.mm(torch_csr(binary.T.tocsr(), self.device_).to(dtype), solved)
        precision.mul_(-1.0 / lam)
        precision.diagonal().add_(1.0 / lam)
        return precision

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        rows = sp.csr_matrix(history, dtype=np.float32, copy=True)
        rows.data[:] = 1.0
        return torch.sparse.mm(torch_csr(rows, self.device_), self.weights_)

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        index = torch.as_tensor(history, device=self.device_)
        return self.weights_[index, int(item)].float().cpu().numpy()  # x_uh is 1 for every history item

    def _similarity_vectors(self) -> torch.Tensor:
        """Each item's row of weights ``B[i, :]``: how much it raises every other item's score. Two items
        are alike when they raise the same items (the weights themselves are small, mostly 0.01-0.1, and
        ``B[i, i] = 0``, so they read badly as a similarity)."""
        return self.weights_
