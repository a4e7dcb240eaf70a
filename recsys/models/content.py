"""Content-based recommendations: items described by TF-IDF of their tags/genres, title and description.

Each item is a TF-IDF vector (scikit-learn ``TfidfVectorizer``, rows L2-normalised) over tokens of
three kinds: whole tags (``tag:science fiction``), title words and description words. A user's profile
is the mean of their history items' vectors, weighted by the interaction values when ``use_values``;
an item's content score is the cosine between profile and item. Items nobody has interacted with yet
score like any other item: only their description matters.

``popularity_weight`` blends in how popular each item is: ``score = (1 - w) * content + w * pop``,
with ``pop = log(1 + count) / log(1 + max count)`` in [0, 1]. Pure content ranking (``w = 0``) finds
the most similar items however obscure, and genres alone say little about taste (MovieLens demo:
NDCG@10 0.03, far below popularity's 0.18); the default ``w = 0.6`` ranks the well-known items among
those that match (0.21 on the demo). Items without interactions get ``pop = 0``: set ``w = 0`` to let
brand-new items compete on content alone.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from recsys.data import Catalog, Interactions
from recsys.models.als import torch_csr
from recsys.models.base import ModelError, Recommender
from recsys.models.knn import _dense
from recsys.models.settings import DEVICE, USE_VALUES, Setting

_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)
_YEAR = re.compile(r"\((\d{4})\)\s*$")
EMBEDDING_DIMENSIONS = 64


def item_tokens(title: str, tags: list[str], description: str) -> list[str]:
    """The tokens describing one item: ``tag:<tag>`` per tag, ``word:<w>`` per title/description word
    (lower case, 2+ letters), and ``decade:<1990s>`` when the title ends in a year like ``(1995)``."""
    tokens = [f"tag:{t.strip().lower()}" for t in tags if str(t).strip()]
    title = str(title or "")
    year = _YEAR.search(title)
    if year:
        tokens.append(f"decade:{year.group(1)[:3]}0s")
        title = title[: year.start()]
    tokens += [f"word:{w}" for w in _WORD.findall(title.lower())]
    tokens += [f"word:{w}" for w in _WORD.findall(str(description or "").lower())]
    return tokens


class ContentBased(Recommender):
    """TF-IDF content model (see the module docstring). ``min_df`` drops tokens found in fewer items."""

    name = "content"
    description = (
        "Content-based: recommends items whose genres, tags and descriptions match what the user liked. "
        "Works for brand-new items; needs an item catalogue."
    )
    feedback = "both"
    similarity_basis = (
        "the cosine of their catalogue descriptions: tags, genres and words weighted by rarity (TF-IDF; 1 = the "
        "same description, 0 = nothing in common)"
    )
    needs_catalog = True
    settings = (
        Setting("popularity_weight", "float", 0.6, "Popularity blend",
                "0 ranks by content alone (brand-new items compete equally); 1 by popularity alone.",
                low=0.0, high=1.0, tune=(0.0, 1.0)),
        Setting("min_df", "int", 1, "Rarest tag kept", "Tags and words found in fewer items than this are ignored.",
                low=1, high=10**6),
        USE_VALUES,
        DEVICE,
    )

    def __init__(
        self, popularity_weight: float = 0.6, min_df: int = 1, use_values: bool = False, device: str | None = None
    ) -> None:
        self.popularity_weight = popularity_weight
        self.min_df = min_df
        self.use_values = use_values
        self.device = device

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        rows = catalog.align(train.item_ids)
        documents = [
            item_tokens(title, tags, description)
            for title, tags, description in zip(rows["title"], rows["tags"], rows["description"], strict=True)
        ]
        if not any(documents):
            raise ModelError("content found no titles, tags or descriptions for these items in the catalogue.")
        vectorizer = TfidfVectorizer(analyzer=_identity, min_df=int(self.min_df), sublinear_tf=True, norm="l2")
        try:
            features = vectorizer.fit_transform(documents)
        except ValueError as exc:  # every token dropped by min_df
            raise ModelError(f"content could not build item features: {exc}. Lower min_df.") from exc
        self.item_features_ = sp.csr_matrix(features, dtype=np.float32)
        self.vocabulary_ = np.asarray(vectorizer.get_feature_names_out()).astype(str)
        counts = train.item_counts().astype(np.float64)
        self.item_popularity_ = (np.log1p(counts) / max(np.log1p(counts.max()), 1e-12)).astype(np.float32)
        self._after_load()

    def _after_load(self) -> None:
        self._features_t = None
        self._embeddings = None

    def _features(self) -> torch.Tensor:
        """Item features (items x vocabulary) as a sparse tensor on the device, built once."""
        if getattr(self, "_features_t", None) is None:
            self._features_t = torch_csr(self.item_features_, self.device_)
        return self._features_t

    def _profiles(self, history: sp.csr_matrix) -> sp.csr_matrix:
        """Row-normalised (L2) weighted mean of the history items' feature rows."""
        weights = sp.csr_matrix(history, dtype=np.float32, copy=True)
        if not self.use_values:
            weights.data[:] = 1.0
        profiles = sp.csr_matrix(weights @ self.item_features_)
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ profiles)

    def _score_histories(self, history: sp.csr_matrix) -> torch.Tensor:
        profiles = _dense(self._profiles(history), self.device_)  # rows x vocabulary
        content = torch.sparse.mm(self._features(), profiles.T).T  # cosine: both sides unit length
        w = float(self.popularity_weight)
        if w == 0:
            return content
        popularity = torch.as_tensor(self.item_popularity_, device=self.device_)
        return (1 - w) * content + w * popularity[None, :]

    def _explain(self, user: int, history: np.ndarray, values: np.ndarray, item: int) -> np.ndarray:
        """Exact: the content score ``sum_h w_h (f_h . f_item) / |sum_h w_h f_h|`` is a sum over history
        items ``h``; each term (times ``1 - popularity_weight``) is that item's contribution."""
        weights = np.asarray(values if self.use_values else np.ones(len(history)), np.float32)
        features = self.item_features_[history]
        norm = float(np.sqrt(sp.csr_matrix(weights[None, :] @ features).power(2).sum()))
        overlap = np.asarray((features @ self.item_features_[int(item)].T).toarray()).ravel()
        share = (1 - float(self.popularity_weight)) * weights * overlap / max(norm, 1e-12)
        return share.astype(np.float32)

    def item_embeddings(self) -> torch.Tensor:
        """TF-IDF rows reduced to at most 64 dimensions (TruncatedSVD), or dense TF-IDF when smaller."""
        features = self.item_features_
        if features.shape[1] <= EMBEDDING_DIMENSIONS or min(features.shape) <= EMBEDDING_DIMENSIONS + 1:
            return _dense(features, self.device_)
        if getattr(self, "_embeddings", None) is None:
            svd = TruncatedSVD(EMBEDDING_DIMENSIONS, random_state=0)
            self._embeddings = torch.as_tensor(svd.fit_transform(features).astype(np.float32))
        return self._embeddings.to(self.device_)

    def _similarity_vectors(self) -> sp.csr_matrix:
        """The TF-IDF rows themselves (exact, not the reduced embeddings)."""
        return self.item_features_


def _identity(tokens: list[str]) -> list[str]:
    """The documents are already token lists."""
    return tokens
