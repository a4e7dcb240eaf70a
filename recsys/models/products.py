"""The dense product that scores every item for a block of people, on the kernel that is fastest here.

``scores_product(left, right, bias)`` is ``left @ right.T + bias`` (``bias`` added to every row), the
scores of ``left``'s rows against ``right``'s rows. On a GPU it is ``torch.addmm``. On a CPU torch's
own matrix product is MKL's ``sgemm``, and MKL picks its code path by CPU vendor: on Intel CPUs its
AVX-512 kernels, on AMD ones a generic AVX2 path, while oneDNN (also inside torch, on the same threads)
picks by the instructions the CPU has. Measured for this shape (83 x 64 times 64 x 50,000) on an AMD
EPYC (Zen 5, AVX-512): MKL 60-73 GFLOPS on 1 thread and 66-114 on 2, oneDNN (``brg_matmul:avx512_core``)
128-197 and 184-297. So on an AMD CPU the scores come from oneDNN, elsewhere from torch's own product.
The choice is made by the CPU's vendor, not by timing both kernels: the two agree only to float rounding,
and a timing on a busy machine could pick one kernel in one process and the other in the next, so the
same model would rank near-ties differently from run to run. oneDNN is used only after its product
agrees with torch's on a sample, and any failure of it (a torch built without it, a changed internal
signature) falls back to torch's product for good.
"""

from __future__ import annotations

import torch

from recsys.device import cpu_vendor

# factors -> whether products of that width go to oneDNN here; "broken" once it failed
_FASTER_ONEDNN: dict[int, bool] = {}
_ONEDNN_STATE = {"broken": False}


def scores_product(left: torch.Tensor, right: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``left @ right.T`` plus ``bias`` (one number per row of ``right``) on each row: shape
    ``(len(left), len(right))``, on the kernel chosen for this machine (see the module)."""
    if _use_onednn(left, right, bias):
        try:
            return _onednn_product(left, right, bias)
        except (RuntimeError, AttributeError, TypeError):
            _ONEDNN_STATE["broken"] = True
    return _torch_product(left, right, bias)


def _torch_product(left: torch.Tensor, right: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return left @ right.T if bias is None else torch.addmm(bias, left, right.T)


def _onednn_product(left: torch.Tensor, right: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(left.contiguous(), right.contiguous(), bias, "none", [None], "")


def _use_onednn(left: torch.Tensor, right: torch.Tensor, bias: torch.Tensor | None) -> bool:
    """Whether this product goes to oneDNN: a CPU float32 product outside autograd, on a CPU where oneDNN
    is the faster kernel and agrees with torch's (:func:`_calibrate`)."""
    if _ONEDNN_STATE["broken"] or left.device.type != "cpu" or right.device.type != "cpu":
        return False
    tensors = [left, right] + ([] if bias is None else [bias])
    if any(t.dtype != torch.float32 for t in tensors) or left.dim() != 2 or right.dim() != 2:
        return False
    if not left.shape[0] or not right.shape[0]:
        return False  # nothing to compute (and no reason to risk oneDNN on an empty shape)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    factors = int(left.shape[1])
    if factors not in _FASTER_ONEDNN:
        _FASTER_ONEDNN[factors] = _calibrate(factors)
    return _FASTER_ONEDNN[factors]


def _calibrate(factors: int, rows: int = 64, columns: int = 1024) -> bool:
    """Whether products of ``factors`` columns go to oneDNN: on an AMD CPU (where MKL takes its generic
    path; see the module), once oneDNN's product of a ``rows x factors`` and a ``factors x columns`` sample
    agrees with torch's. False on other CPUs, and when oneDNN fails or disagrees."""
    if cpu_vendor() != "AuthenticAMD":
        return False
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(rows, factors, generator=generator)
    right = torch.randn(columns, factors, generator=generator)
    try:
        agrees = torch.allclose(_onednn_product(left, right, None), _torch_product(left, right, None),
                                rtol=1e-4, atol=1e-4)
    except (RuntimeError, AttributeError, TypeError):
        agrees = False
    _ONEDNN_STATE["broken"] = not agrees
    return agrees
