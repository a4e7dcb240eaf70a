"""Typed settings: what each model's hyperparameters are, declared once in the model's own file.

A :class:`Setting` states one hyperparameter: its kind (``int``, ``float``, ``bool``, ``choice`` or
``text``), its default, the values allowed (an inclusive ``low``..``high`` range, ``choices``, or a
``pattern`` for text), a plain label and a one-line help for people, and, where tuning makes sense, the
range ``tune`` searches (on a log scale when ``log``). ``optional`` settings also accept ``None``, which
means what ``none_means`` says ("never", "automatic").

The command line, the Train page, the estimates, ``python -m recsys models`` and tuning all read these
declarations. :meth:`Setting.check` is the one place a value is checked: it turns text from the command
line (``"64"``, ``"true"``, ``"none"``) or a Python value into the setting's type, and raises
:class:`~recsys.models.base.ModelError` with one line naming the setting and what is allowed.

Settings several models share are declared here once; a model adjusts one with :meth:`Setting.but`
(e.g. ``EPOCHS.but(default=50)``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.models.base import ModelError

KINDS = ("int", "float", "bool", "choice", "text")
_NONE_WORDS = ("", "none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Setting:
    """One hyperparameter of a model (see the module docstring)."""

    name: str
    kind: str
    default: Any
    label: str
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()  # plain words for each choice, same order
    pattern: str | None = None  # text: a regular expression the whole value must match
    pattern_words: str = ""  # text: what the pattern allows, in words
    optional: bool = False
    none_means: str = ""
    tune: tuple[float, float] | None = None
    log: bool = False

    def but(self, **changes: Any) -> Setting:
        """A copy with some fields changed (a shared setting adjusted for one model)."""
        return dataclasses.replace(self, **changes)

    # -- checking --------------------------------------------------------------------------------
    def check(self, value: Any, model: str = "") -> Any:
        """``value`` in this setting's type (``int``, ``float``, ``bool`` or ``str``, or ``None`` when
        optional); raises :class:`ModelError` naming the setting and what is allowed."""
        if self.optional and (value is None or isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
            return None
        if value is None:
            raise self._refuse(value, model)
        converted = _CONVERT[self.kind](self, value)
        if converted is None:
            raise self._refuse(value, model)
        if self.kind in ("int", "float") and not (
            (self.low is None or converted >= self.low) and (self.high is None or converted <= self.high)
        ):
            raise self._refuse(value, model)
        return converted

    def allowed(self) -> str:
        """What this setting accepts, in words: ``"a whole number from 1 to 4096"``."""
        if self.kind in ("int", "float"):
            noun = "a whole number" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                text = f"{noun} from {_number(self.low)} to {_number(self.high)}"
            elif self.low is not None:
                text = f"{noun} of at least {_number(self.low)}"
            elif self.high is not None:
                text = f"{noun} of at most {_number(self.high)}"
            else:
                text = noun
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        else:
            text = self.pattern_words or "any text"
        if self.optional:
            text += f", or none ({self.none_means or 'off'})"
        return text

    def _refuse(self, value: Any, model: str) -> ModelError:
        owner = f"{model}'s " if model else ""
        shown = repr(value) if isinstance(value, str) else str(value)
        return ModelError(f"{owner}{self.name} must be {self.allowed()}, not {' '.join(shown.split())[:60]}.")

    # -- describing ------------------------------------------------------------------------------
    def choice_label(self, choice: str) -> str:
        """The plain words for one of ``choices`` (the choice itself when there are none)."""
        words = dict(zip(self.choices, self.choice_labels, strict=False))
        return words.get(choice, choice)

    def to_dict(self) -> dict[str, Any]:
        """Everything about this setting as plain JSON values (for ``python -m recsys models --json``)."""
        return {
            "name": self.name, "type": self.kind, "default": self.default, "label": self.label,
            "help": self.help, "allowed": self.allowed(), "low": self.low, "high": self.high,
            "choices": list(self.choices), "optional": self.optional, "none_means": self.none_means or None,
            "tune": list(self.tune) if self.tune else None, "log": self.log,
        }


def _number(value: float) -> str:
    """``10000 -> "10,000"``, ``0.5 -> "0.5"``, ``1e-06 -> "1e-06"``."""
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _to_int(setting: Setting, value: Any) -> int | None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, str)):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    number = float(value)
    if not math.isfinite(number) or number != int(number):
        return None
    return int(value)


def _to_float(setting: Setting, value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, str)):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _to_bool(setting: Setting, value: Any) -> bool | None:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_WORDS:
            return True
        if text in _FALSE_WORDS:
            return False
    return None


def _to_choice(setting: Setting, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return next((c for c in setting.choices if c.lower() == text), None)


def _to_text(setting: Setting, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if setting.pattern is not None and not re.fullmatch(setting.pattern, text):
        return None
    return text


_CONVERT = {"int": _to_int, "float": _to_float, "bool": _to_bool, "choice": _to_choice, "text": _to_text}


# -- settings several models share ---------------------------------------------------------------
DEVICE = Setting(
    "device", "text", None, "Device",
    "Where to train: auto (the GPU when there is one), cpu, or cuda (cuda:1 for a second GPU).",
    pattern=r"auto|cpu|cuda(:\d{1,2})?", pattern_words="auto, cpu, cuda or cuda:N", optional=True,
    none_means="automatic",
)
FACTORS = Setting(
    "factors", "int", 64, "Taste dimensions",
    "How many hidden traits the model learns per person and item; more can capture finer taste but "
    "needs more data and time.",
    low=1, high=4096, tune=(16, 256), log=True,
)
EPOCHS = Setting(
    "epochs", "int", 20, "Training passes", "How many times the model goes over all the data.",
    low=1, high=10_000,
)
LEARNING_RATE = Setting(
    "learning_rate", "float", 0.01, "Learning rate",
    "How big a step each update takes: too high and training blows up, too low and it crawls.",
    low=1e-6, high=10.0, log=True,
)
REGULARIZATION = Setting(
    "regularization", "float", 0.01, "Regularisation",
    "Higher values keep the model simpler and guard against learning the training data by heart.",
    low=0.0, high=1e6, log=True,
)
SEED = Setting(
    "seed", "int", 42, "Random seed", "Fixes the randomness, so the same settings give the same result.",
    low=0, high=2**32 - 1,
)
BATCH_SIZE = Setting(
    "batch_size", "int", 4096, "Batch size",
    "Examples per update step; larger is faster on a GPU, smaller often learns a little better.",
    low=1, high=2**24,
)
VALIDATE_EVERY = Setting(
    "validate_every", "int", 5, "Check quality every",
    "Training passes between two quality checks on the validation data (0: only after the last pass).",
    low=0, high=10_000,
)
PATIENCE = Setting(
    "patience", "int", None, "Patience",
    "Stop early after this many quality checks in a row without improvement (empty: never stop early).",
    low=1, high=10_000, optional=True, none_means="never stop early",
)
USE_VALUES = Setting(
    "use_values", "bool", False, "Use ratings or counts",
    "Weigh each interaction by its rating or play count instead of counting every one the same.",
)
INIT_SCALE = Setting(
    "init_scale", "float", 0.01, "Starting spread",
    "How far from zero the taste vectors start; rarely worth changing.",
    low=1e-6, high=10.0,
)
ITERATIVE = (SEED, DEVICE, VALIDATE_EVERY, PATIENCE)  # the last settings of every iterative model
