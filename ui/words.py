"""Plain names for the things the library calls by short keys: models, splits, run states. (Settings carry
their own plain labels in each model's declaration: :mod:`recsys.models.settings`.)"""

from __future__ import annotations

import re

from recsys.leaderboard import model_title
from recsys.split import PROTOCOL_TITLES

PROTOCOL_LABELS: dict[str, str] = PROTOCOL_TITLES

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
    "tuning": "Trying settings",
    "training": "Training",
    "evaluating": "Measuring quality",
    "refitting": "Retraining on all the data for recommendations",
    "saving": "Saving",
}


def model_label(name: str) -> str:
    """A model's display name: ``"itemknn" -> "Similar items (ItemKNN)"``."""
    return model_title(name)


def protocol_label(protocol: str) -> str:
    """A split's short plain name: ``"temporal" -> "Each person's most recent 20%"``."""
    return PROTOCOL_LABELS.get(str(protocol), str(protocol))


def status_label(status: str, emoji: bool = False) -> str:
    """``"running" -> "Training"`` (``"🏃 Training"`` with ``emoji=True``; machines without an emoji font,
    such as the headless browser of the tests, show emoji as empty boxes, so words are the default)."""
    symbol, words = STATUS_LABELS.get(str(status), ("", str(status)))
    return f"{symbol} {words}".strip() if emoji else words

# Every run has two models: the evaluated one (trained without the test data, scored on it) and the
# serving one (the same settings retrained on everything), which every page but Results shows.
SERVING_NOTE = ("Scores on Results come from held-out data the model never saw; what you see here comes from "
                "the same settings retrained on all the data.")
SCORED_NOTE = ("Each model is scored on held-out data it never saw while training; Explore, Recommendations "
               "and exports use the same settings retrained on all the data.")


_GENERIC = {"users": "people", "user": "person", "people": "people", "person": "person", "items": "items",
            "item": "item", "interactions": "events", "interaction": "event"}
_GENERIC_WORDS = re.compile(r"\b(users|user|people|person|items|item|interactions|interaction)\b", re.IGNORECASE)


def in_words(text: str, nouns) -> str:
    """``text`` written with the library's generic words (users, items, interactions) in a dataset's own
    nouns (listeners, artists, plays); capitals kept. Ids stay: "user id" becomes "listener id"."""
    def swap(match: re.Match) -> str:
        word = match.group(0)
        mine = getattr(nouns, _GENERIC[word.lower()], word)
        return mine[:1].upper() + mine[1:] if word[:1].isupper() else mine

    return _GENERIC_WORDS.sub(swap, str(text))
