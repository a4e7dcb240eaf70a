"""Mult-VAE (Liang, Krishnan, Hoffman & Jebara 2018), in torch on the device.

Definitions. A user is their binarised history ``x`` (1 for every item they have). The encoder reads
``x`` scaled to unit L2 norm, with input dropout during training, through ``tanh`` layers
(n_items -> ``hidden`` -> 2 x ``factors``) to a Gaussian ``q(z | x) = N(mu, diag(sigma^2))``; the decoder
maps ``z`` through ``hidden`` back to one logit per item, and ``softmax`` of the logits is a multinomial
over items. Training maximises, per user, ``sum_i x_i log softmax(logits)_i - beta_t KL(q(z|x) || N(0, I))``
with Adam on minibatches of users; ``beta_t`` grows linearly from 0 to ``beta`` over ``anneal_steps``
optimiser steps (KL annealing). The loss reported per epoch is the mean negative of that objective.

Scoring a user is scoring their history: encoder mean, then decoder logits, so fold-in (a new user given
some items) is the same computation and costs nothing extra.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recsys.data import Catalog, Interactions
from recsys.models.base import Recommender
from recsys.models.settings import (
    BATCH_SIZE,
    EPOCHS,
    FACTORS,
    ITERATIVE,
    LEARNING_RATE,
    REGULARIZATION,
    Setting,
)

# learned tensors, in layer order: (weight, bias) of encoder hidden (weight stored n_items x hidden),
# encoder output (mu and log-variance), decoder hidden, decoder output
LAYERS = ("encoder_hidden", "encoder_out", "decoder_hidden", "decoder_out")


class MultVAE(Recommender):
    """Variational autoencoder of each user's history with a multinomial likelihood over items."""

    name = "multvae"
    description = (
        "Mult-VAE: a neural model that reads a person's whole history and predicts what else they will "
        "pick (implicit feedback); strong on dense data, new users need no retraining."
    )
    feedback = "implicit"
    iterative = True
    settings = (
        FACTORS.but(default=200, tune=(50, 400)),
        Setting("hidden", "int", 600, "Hidden size", "Width of the network's hidden layer.",
                low=1, high=16_384, tune=(100, 1200), log=True),
        Setting("dropout", "float", 0.5, "Dropout",
                "Share of each history hidden during training, so the model learns to fill gaps.",
                low=0.0, high=0.95, tune=(0.1, 0.8)),
        Setting("beta", "float", 0.2, "Pull toward average taste",
                "How strongly each person's taste is pulled toward the average (the weight of the KL term).",
                low=0.0, high=10.0, tune=(0.05, 1.0), log=True),
        Setting("anneal_steps", "int", 150, "Warm-up steps",
                "Update steps over which that pull grows from nothing to its full strength.", low=0, high=10**7),
        LEARNING_RATE.but(default=2e-3, tune=(1e-4, 1e-2)),
        REGULARIZATION.but(default=0.0, label="Weight decay", high=10.0, log=False,
                           help="Keeps the network's weights small; 0 turns it off."),
        EPOCHS.but(default=30),
        BATCH_SIZE.but(default=128, help="People per update step; larger is faster on a GPU."),
        *ITERATIVE,
    )

    def __init__(
        self,
        factors: int = 200,
        hidden: int = 600,
        dropout: float = 0.5,
        beta: float = 0.2,
        anneal_steps: int = 150,
        learning_rate: float = 2e-3,
        regularization: float = 0.0,
        epochs: int = 30,
        batch_size: int = 128,
        seed: int = 42,
        device: str | None = None,
        validate_every: int = 5,
        patience: int | None = None,
    ) -> None:
        self.factors = factors
        self.hidden = hidden
        self.dropout = dropout
        self.beta = beta
        self.anneal_steps = anneal_steps
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.validate_every = validate_every
        self.patience = patience

    # -- parameters ---------------------------------------------------------------------------
    def _parameters(self) -> list[torch.Tensor]:
        return [getattr(self, f"{layer}_{part}_") for layer in LAYERS for part in ("weight", "bias")]

    def _init_parameters(self, generator: torch.Generator) -> None:
        """Xavier-uniform weights and small normal biases, as in the paper's code."""
        sizes = {
            "encoder_hidden": (self.n_items_, int(self.hidden)),
            "encoder_out": (int(self.hidden), 2 * int(self.factors)),
            "decoder_hidden": (int(self.factors), int(self.hidden)),
            "decoder_out": (int(self.hidden), self.n_items_),
        }
        for layer, (fan_in, fan_out) in sizes.items():
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            weight = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
            if layer == "encoder_hidden":  # stored (n_items, hidden): the sparse product reads it as is
                weight = weight.T.contiguous()
            bias = torch.randn(fan_out, generator=generator) * 0.001
            setattr(self, f"{layer}_weight_", weight.to(self.device_).requires_grad_(True))
            setattr(self, f"{layer}_bias_", bias.to(self.device_).requires_grad_(True))

    # -- the network --------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x); ``x`` may be a sparse COO matrix (the usual case)."""
        if x.is_sparse:
            h = torch.sparse.mm(x, self.encoder_hidden_weight_) + self.encoder_hidden_bias_
        else:
            h = x @ self.encoder_hidden_weight_ + self.encoder_hidden_bias_
        out = F.linear(torch.tanh(h), self.encoder_out_weight_, self.encoder_out_bias_)
        k = int(self.factors)
        return out[:, :k], out[:, k:]

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(F.linear(z, self.decoder_hidden_weight_, self.decoder_hidden_bias_))
        return F.linear(h, self.decoder_out_weight_, self.decoder_out_bias_)

    def _sparse_rows(self, history: sp.csr_matrix, keep: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Binarised rows scaled to unit L2 norm, then (``keep`` < 1) input dropout: each entry kept with
        probability ``keep`` and scaled by ``1 / keep``. Returns the sparse COO input and the (row, item)
        positions of the history."""
        history = sp.csr_matrix(history)
        lengths = np.diff(history.indptr)
        rows = torch.as_tensor(np.repeat(np.arange(history.shape[0]), lengths), device=self.device_)
        items = torch.as_tensor(history.indices.astype(np.int64), device=self.device_)
        norms = torch.as_tensor(np.sqrt(np.maximum(lengths, 1)).astype(np.float32), device=self.device_)
        values = 1.0 / norms[rows]
        if keep < 1.0:
            mask = torch.rand(values.shape, generator=self._generator, device=self.device_) < keep
            values = values * mask / keep
        positions = torch.stack([rows, items])
        inputs = torch.sparse_coo_tensor(positions, values, (history.shape[0], self.n_items_), is_coalesced=True)
        return inputs, positions

    # -- training -----------------------------------------------------------------------------
    def _start_training(self, train: Interactions, catalog: Catalog | None) -> None:
        init = torch.Generator().manual_seed(int(self.seed))
        self._init_parameters(init)
        self._generator = torch.Generator(device=self.device_).manual_seed(int(self.seed))
        self._optimizer = torch.optim.Adam(
            self._parameters(), lr=float(self.learning_rate), weight_decay=float(self.regularization),
            fused=True)
        self._step = 0
        self._active_users = np.flatnonzero(np.diff(self.user_items_.indptr) > 0)

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        users = torch.as_tensor(self._active_users, device=self.device_)
        order = users[torch.randperm(len(users), generator=self._generator, device=self.device_)].cpu().numpy()
        batch, keep = int(self.batch_size), 1.0 - float(self.dropout)
        sums = torch.zeros(3, device=self.device_, dtype=torch.float64)
        for start in range(0, len(order), batch):
            inputs, (rows, items) = self._sparse_rows(self.user_items_[order[start : start + batch]], keep)
            beta = float(self.beta) * min(1.0, self._step / max(1, int(self.anneal_steps)))
            mean, log_var = self._encode(inputs)
            noise = torch.randn(mean.shape, generator=self._generator, device=self.device_)
            z = mean + noise * torch.exp(0.5 * log_var)
            log_probs = F.log_softmax(self._decode(z), dim=1)
            nll = -log_probs[rows, items].sum() / len(mean)  # x is 1 exactly at the history
            kl = (-0.5 * (1 + log_var - mean * mean - log_var.exp()).sum(1)).mean()
            loss = nll + beta * kl
            self._optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self._optimizer.step()
            self._step += 1
            sums += torch.stack([loss.detach(), nll.detach(), kl.detach()]).double() * len(mean)
        loss, nll, kl = (float(v) / max(1, len(order)) for v in sums)
        beta = float(self.beta) * min(1.0, self._step / max(1, int(self.anneal_steps)))
        return {"loss": loss, "nll": nll, "kl": kl, "beta": beta}

    def _finish_training(self) -> None:
        for layer in LAYERS:
            for part in ("weight", "bias"):
                name = f"{layer}_{part}_"
                setattr(self, name, getattr(self, name).detach())
        del self._optimizer, self._generator

    # -- scoring ------------------------------------------------------------------------------
    def _score_histories(self, history: sp.csr_matrix, batch: int = 1024) -> torch.Tensor:
        """Decoder logits at the encoder mean of each (binarised, L2-normalised) history row."""
        history = sp.csr_matrix(history)
        out = torch.empty(history.shape[0], self.n_items_, device=self.device_)
        with torch.no_grad():
            for start in range(0, history.shape[0], batch):
                inputs, _ = self._sparse_rows(history[start : start + batch])
                out[start : start + batch] = self._decode(self._encode(inputs)[0])
        return out

    def item_embeddings(self) -> torch.Tensor:
        """Each item's row of the decoder output layer (its logit's weights)."""
        return self.decoder_out_weight_.detach()
