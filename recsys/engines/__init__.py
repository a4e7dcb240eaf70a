"""Where a run's model learns: ``local`` (this machine, the default) or ``spark`` (Apache Spark).

An engine changes only where the parameters are computed: the data, the split, the evaluation and the
saved model are the same. Spark trains ``ials`` only (:mod:`recsys.engines.spark`); it is optional and
imported lazily, so Tastemaker works without pyspark or Java.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ENGINES = ("local", "spark")
SPARK_MODELS = ("ials",)


def engine_settings(engine: str | None = None, master: str | None = None,
                    conf: dict[str, str] | None = None) -> dict[str, Any]:
    """A run's engine as stored: ``{"name": "local"}`` or ``{"name": "spark", "master": URL, "conf": {...}}``
    (the master from ``SPARK_MASTER`` or ``local[2]`` when not given). Raises ``ModelError`` with one
    line for an unknown engine, a master URL Spark cannot read, or a malformed Spark setting."""
    from recsys.models.base import ModelError

    name = (engine or "local").strip().lower()
    if name not in ENGINES:
        raise ModelError(f"Unknown engine {engine!r}: use one of {', '.join(ENGINES)}.")
    if name == "local":
        if master or conf:
            raise ModelError("A Spark master or Spark settings were given but the engine is local: add --engine spark.")
        return {"name": "local"}
    from recsys.engines import spark

    return {"name": "spark", "master": spark.check_master(master or spark.default_master()),
            "conf": spark.check_conf(conf or {})}


def trained_on(engine: Any, device: Any) -> str:
    """Where a run trained, for tables: ``"spark"`` for a Spark run, else its ``device`` (``"cpu"``,
    ``"cuda:0"``); ``""`` when neither is known (a queued run)."""
    if isinstance(engine, dict) and engine.get("name") == "spark":
        return "spark"
    return device if isinstance(device, str) else ""


def fitter(engine: dict[str, Any] | None, should_stop: Callable[[], bool] | None = None) -> Callable | None:
    """The fit function of a run's engine, called as ``fit(model, train, on_epoch, validation=...,
    validation_input=..., catalog=...)``: None for ``local`` (the model's own fit), else Spark's
    (:func:`recsys.engines.spark.fit_ials` at the run's master and settings), which also asks
    ``should_stop`` about once a second between iterations."""
    if not engine or engine.get("name", "local") == "local":
        return None
    import functools

    from recsys.engines import spark

    return functools.partial(spark.fit_ials, master=engine.get("master"), conf=engine.get("conf") or {},
                             should_stop=should_stop)
