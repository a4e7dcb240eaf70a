"""Plain names for the things the library calls by short keys: models, splits, settings, run states."""

from __future__ import annotations

from recsys.leaderboard import model_title

PROTOCOL_LABELS: dict[str, str] = {
    "random": "Random 20% of each person's interactions",
    "temporal": "Each person's most recent 20%",
    "global_temporal": "Everything after a cut-off date",
    "loo": "One interaction per person",
    "users": "Whole new people",
}

PARAM_LABELS: dict[str, tuple[str, str]] = {
    # name: (label, help)
    "factors": ("Taste dimensions", "How many hidden traits the model learns per person and item (factors)."),
    "epochs": ("Training passes", "How many times the model goes over the data (epochs)."),
    "regularization": ("Regularisation", "Higher values keep the model simpler and guard against overfitting."),
    "learning_rate": ("Learning rate", "How big a step each update takes. Too high diverges, too low crawls."),
    "alpha": ("Confidence weight", "How much more a repeated interaction counts than a single one (alpha)."),
    "neighbors": ("Neighbours", "How many similar items or people each recommendation draws on."),
    "seed": ("Random seed", "Fixes the randomness so the same settings give the same result."),
    "validate_every": ("Check quality every", "Passes between two quality checks on held-out data."),
    "patience": ("Patience", "Stop early after this many quality checks without improvement (empty: never)."),
    "batch_size": ("Batch size", "Examples per update step; larger is faster on a GPU."),
    "shrinkage": ("Shrinkage", "Damps similarities computed from only a few shared interactions."),
    "dropout": ("Dropout", "Share of each history hidden during training, so the model generalises."),
    "hidden": ("Hidden size", "Width of the network's hidden layer."),
    "negative_sampling": ("Comparison items", "Which items the model learns to rank below each person's own: "
                          "uniform (any item, equally often) or popularity (popular items more often, as the "
                          "implicit library does). Type one of the two words."),
}

STATUS_LABELS: dict[str, tuple[str, str]] = {
    # status: (emoji, words)
    "queued": ("⏳", "Waiting"),
    "running": ("🏃", "Training"),
    "done": ("✅", "Finished"),
    "failed": ("❌", "Failed"),
    "cancelled": ("⏹️", "Cancelled"),
    "interrupted": ("⚠️", "Interrupted"),
}

PHASE_LABELS: dict[str, str] = {
    "loading": "Loading the data",
    "splitting": "Setting test data aside",
    "training": "Training",
    "evaluating": "Measuring quality",
    "refitting": "Training on all the data (the model that recommends)",
    "saving": "Saving",
}


def model_label(name: str) -> str:
    """A model's display name: ``"itemknn" -> "Similar items (ItemKNN)"``."""
    return model_title(name)


def protocol_label(protocol: str) -> str:
    """A split's short plain name: ``"temporal" -> "Each person's most recent 20%"``."""
    return PROTOCOL_LABELS.get(str(protocol), str(protocol))


def param_label(name: str) -> tuple[str, str | None]:
    """``(label, help)`` of a hyperparameter, the raw name kept visible for experts."""
    label, help_text = PARAM_LABELS.get(name, (name.replace("_", " ").capitalize(), None))
    return f"{label} ({name})" if label.lower() != name.replace("_", " ") else label, help_text


def status_label(status: str, emoji: bool = False) -> str:
    """``"running" -> "Training"`` (``"🏃 Training"`` with ``emoji=True``; machines without an emoji font,
    such as the headless browser of the tests, show emoji as empty boxes, so words are the default)."""
    symbol, words = STATUS_LABELS.get(str(status), ("", str(status)))
    return f"{symbol} {words}".strip() if emoji else words
