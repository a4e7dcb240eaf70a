"""``python -m recsys``: validate data, train, recommend, evaluate, and run the background worker.

Every command prints plain language and exits 0 on success, 2 with a one-line reason when the input is
unusable; a user never sees a traceback. Each ``cmd_*`` function does one command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from recsys.data import DataError


def _add_column_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user-col", help="column holding user ids (auto-detected when omitted)")
    p.add_argument("--item-col", help="column holding item ids (auto-detected when omitted)")
    p.add_argument("--rating-col", help="column holding ratings or weights (optional)")
    p.add_argument("--time-col", help="column holding timestamps (optional)")


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", default="local", choices=["local", "spark"],
                   help="where the model learns: this machine (default) or Apache Spark (ials only)")
    p.add_argument("--master", help="Spark master URL: local[N], spark://HOST:PORT, yarn or k8s://... "
                   "(default: $SPARK_MASTER, else local[2])")
    p.add_argument("--spark-conf", action="append", metavar="KEY=VALUE",
                   help="a Spark setting, e.g. spark.executor.memory=8g (repeatable)")


def engine_of(args: argparse.Namespace) -> dict:
    """The run's engine from ``--engine``, ``--master`` and ``--spark-conf`` (:func:`recsys.engines.engine_settings`)."""
    from recsys.engines import engine_settings

    return engine_settings(args.engine, args.master, dict(_pairs(args.spark_conf, "--spark-conf")))


def _pairs(pairs: Sequence[str] | None, option: str) -> list[tuple[str, str]]:
    out = []
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise DataError(f"{option} expects key=value, got {pair!r}.")
        out.append((key.strip(), raw))
    return out


def column_overrides(args: argparse.Namespace) -> dict[str, str] | None:
    """The ``columns=`` mapping for :func:`recsys.data.load_interactions` from the column options."""
    cols = {
        role: getattr(args, f"{role}_col", None)
        for role in ("user", "item", "rating", "time")
    }
    cols = {k: v for k, v in cols.items() if v}
    return cols or None


def parse_settings(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["factors=64", "device=cpu"]`` -> ``{"factors": "64", "device": "cpu"}``, the text as given: each
    model's declared settings turn it into values (:meth:`recsys.models.Recommender.check_params`)."""
    return dict(_pairs(pairs, "--set"))


def print_warnings(warnings: Sequence[str]) -> None:
    """The data report's warnings on stderr, one ``warning: ...`` line each (what ``validate`` lists under
    "Warnings:")."""
    for warning in warnings:
        print(f"warning: {' '.join(str(warning).split())}", file=sys.stderr)


def model_class(name: str):
    """The registered model class called ``name``; ``DataError`` listing the models otherwise."""
    from recsys.models import MODELS

    if name not in MODELS:
        raise DataError(f"Unknown model {name!r}. Available: {', '.join(MODELS)}.")
    return MODELS[name]


def cmd_validate(args: argparse.Namespace) -> int:
    """Load FILE, print its data report; exit 0 when usable (warnings allowed), 2 with one line when not."""
    from recsys.data import load_interactions

    try:
        inter = load_interactions(args.file, columns=column_overrides(args))
    except DataError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(inter.report.to_text())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train ``--model`` (settings from ``--set``) on every row of FILE and save it to ``--out``, with a
    ``train.json`` beside it saying what was trained on what. Iterative models print each epoch.
    ``--engine spark`` trains on Apache Spark (``--master``, ``--spark-conf``; ials only)."""
    import time

    from recsys.data import load_interactions, load_items
    from recsys.engines import SPARK_MODELS
    from recsys.jobs import feedback_refusal

    model = model_class(args.model)().set_params(**parse_settings(args.set))
    engine = engine_of(args)
    if engine["name"] == "spark" and args.model not in SPARK_MODELS:
        raise DataError(f"Only {', '.join(SPARK_MODELS)} trains on Spark: leave out --engine spark for {args.model}.")
    if model.needs_catalog and not args.items:
        raise DataError(f"{args.model} needs an item catalogue (titles, genres or tags): add --items FILE.")
    inter = load_interactions(args.file, columns=column_overrides(args))
    if refusal := feedback_refusal(args.model, inter.explicit):
        raise DataError(refusal)
    print_warnings(inter.report.warnings if inter.report is not None else [])
    catalog = load_items(args.items) if args.items else None
    if catalog is not None:
        print_warnings(catalog.report.get("warnings", []))

    def report_epoch(record: dict) -> None:
        shown = [("loss", record.get("loss")), ("rmse", record.get("rmse")), ("validation", record.get("validation"))]
        figures = ", ".join(f"{key} {value:.4f}" for key, value in shown if value is not None)
        print(f"epoch {record['epoch']}/{record['epochs']}: {figures or 'done'} ({record['seconds']:.2f} s)",
              file=sys.stderr)

    started = time.perf_counter()
    if engine["name"] == "spark":
        from recsys.engines import spark

        spark.fit_ials(model, inter, report_epoch, catalog=catalog, master=engine["master"], conf=engine["conf"])
    else:
        model.fit(inter, on_epoch=report_epoch, catalog=catalog)
    seconds = time.perf_counter() - started
    out = _save_trained(model, args, inter, seconds, getattr(model, "engine_", engine))
    where = f"Spark ({engine['master']})" if engine["name"] == "spark" else str(model.device_)
    print(f"trained {args.model} on {len(inter):,} interactions ({inter.n_users:,} users, {inter.n_items:,} items) "
          f"in {seconds:.1f} s on {where}; saved to {out}")
    return 0


def _save_trained(model, args: argparse.Namespace, inter, seconds: float, engine: dict):
    """Save ``model`` to ``--out`` with a ``train.json`` beside it saying what was trained on what."""
    import json
    from pathlib import Path

    out = model.save(args.out)
    (Path(out) / "train.json").write_text(json.dumps({
        "file": str(args.file),
        "items_file": str(args.items) if args.items else None,
        "model": args.model,
        "params": model.get_params(),
        "columns": inter.report.columns if inter.report is not None else None,
        "interactions": len(inter),
        "users": inter.n_users,
        "items": inter.n_items,
        "explicit": bool(inter.explicit),
        "fit_seconds": round(seconds, 3),
        "device": str(model.device_),
        "engine": engine,
    }, indent=1, default=str))
    return out


def cmd_tune(args: argparse.Namespace) -> int:
    """Search ``--model``'s settings on FILE within ``--trials`` and/or ``--minutes``: a random 20% of
    each person's rows is held out (seeded by ``--seed``) and every trial is scored on it (validation
    NDCG@10); then the best settings are trained on every row of FILE and saved to ``--out`` (so
    ``recommend DIR`` works) with ``tuning.json``: every trial, the best settings, the validation scores.
    ``--set`` fixes a setting (it is then not searched)."""
    import json
    import time
    from pathlib import Path

    from recsys import tuning
    from recsys.data import load_interactions, load_items
    from recsys.models import make_model

    cls = model_class(args.model)
    if args.trials is not None and args.trials < 1:
        raise DataError(f"--trials must be at least 1, got {args.trials}.")
    if args.minutes is not None and not args.minutes > 0:
        raise DataError(f"--minutes must be more than 0, got {args.minutes:g}.")
    fixed = cls.check_params(parse_settings(args.set))
    if not tuning.search_space(cls, fixed):
        raise DataError(f"{args.model} has no setting left to tune: use `python -m recsys train` instead.")
    if cls.needs_catalog and not args.items:
        raise DataError(f"{args.model} needs an item catalogue (titles, genres or tags): add --items FILE.")
    inter = load_interactions(args.file, columns=column_overrides(args))
    catalog = load_items(args.items) if args.items else None
    fit_train, validation = tuning.validation_split(inter, seed=args.seed)
    minutes = args.minutes if args.minutes is not None or args.trials is not None else tuning.DEFAULT_MINUTES
    budget = " and ".join(part for part in (
        f"{args.trials} trials" if args.trials else "", f"{minutes:g} minutes" if minutes else "") if part)
    print(f"tuning {args.model} for at most {budget}: learning from {len(fit_train):,} interactions, "
          f"scoring each trial on {len(validation):,} held-out ones (NDCG@10)", file=sys.stderr)

    def report_trial(trial: tuning.Trial) -> None:
        score = "-" if trial.value is None else f"{trial.value:.4f}"
        note = f"; {trial.note}" if trial.note else ""
        print(f"trial {trial.number}: {trial.state}, validation NDCG@10 {score} "
              f"({tuning.settings_in_words(args.model, trial.params)}; {trial.seconds:.1f} s{note})", file=sys.stderr)

    result = tuning.tune(args.model, fit_train, validation, trials=args.trials, minutes=minutes, fixed=fixed,
                         seed=args.seed, catalog=catalog, on_trial=report_trial)
    model = make_model(args.model, **tuning.refit_params(result))
    started = time.perf_counter()
    model.fit(inter, catalog=catalog)
    seconds = time.perf_counter() - started
    out = _save_trained(model, args, inter, seconds, {"name": "local"})
    document = {**result.to_dict(), "file": str(args.file), "seed": args.seed,
                "validation": {"fraction": tuning.VALIDATION_FRACTION, "fit_train_rows": len(fit_train),
                               "validation_rows": len(validation)},
                "refit": {"params": model.get_params(), "interactions": len(inter), "seconds": round(seconds, 3)}}
    (Path(out) / "tuning.json").write_text(json.dumps(document, indent=1, default=str))
    counts = result.counts()
    defaults = "" if result.default_value is None else f" (defaults {result.default_value:.4f})"
    print(f"tuned {args.model} in {result.seconds / 60:.1f} min: {len(result.trials)} trials "
          f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed); best validation "
          f"NDCG@10 {result.best_value:.4f}{defaults} with {tuning.settings_in_words(args.model, result.best_params)}; "
          f"trained on all {len(inter):,} interactions and saved to {out}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    """Write the top ``--k`` items for ``--users`` (``all`` or comma-separated ids) to ``--out`` as CSV
    ``user,item,rank,score``, in the file's own ids (text that would start a spreadsheet formula gets an
    apostrophe, see :mod:`recsys.csv_export`), from the model saved in MODEL_DIR or, with ``--run
    RUN_ID``, from that run's serving model (trained on every interaction of its dataset; every item a
    user has anywhere in the dataset is left out). Items a user already has are excluded. Unknown user
    ids are named on stderr and skipped."""
    from pathlib import Path

    from recsys.data import lookup_ids
    from recsys.models import load_model

    if args.k < 1:
        raise DataError(f"--k must be at least 1, got {args.k}.")
    if (args.run is None) == (args.model_dir is None):
        raise DataError("Give either a saved model's folder (MODEL_DIR) or --run RUN_ID, not both.")
    seen = None
    if args.run is not None:
        from recsys.store import Store, StoreError

        store = Store()
        try:
            run = store.run(args.run)
            model = store.load_run_model(args.run)
        except StoreError as exc:
            raise DataError(str(exc)) from exc
        inter, _ = store.load_dataset(run["dataset_id"])
        seen = inter.to_csr(use_values=False)  # the run's whole dataset, in the model's numbering
    else:
        model = load_model(args.model_dir)
    user_ids = None
    if args.users.strip().lower() != "all":
        wanted = [u.strip() for u in args.users.split(",") if u.strip()]
        if not wanted:
            raise DataError("--users expects 'all' or comma-separated user ids.")
        known = lookup_ids(model.user_ids_, wanted) >= 0
        missing = [u for u, ok in zip(wanted, known, strict=True) if not ok]
        if not known.any():
            raise DataError(f"None of the users {', '.join(missing[:5])} are in the data the model was trained on.")
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            print(f"skipped {len(missing)} unknown user(s): {', '.join(missing[:5])}{more}", file=sys.stderr)
        user_ids = [u for u, ok in zip(wanted, known, strict=True) if ok]
    from recsys.csv_export import write_csv

    frame = model.recommend_frame(user_ids, k=args.k, exclude=seen)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(frame, out)
    print(f"wrote {len(frame):,} recommendations for {frame['user'].nunique():,} users to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Split once, train every model named in ``--models`` (plus popularity as the reference row), and
    print a table of held-out metrics with 95% intervals, or JSON with ``--json``."""
    import json

    from recsys.data import load_interactions
    from recsys.evaluation import compare, run_protocol
    from recsys.models import MODELS

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise DataError(f"Unknown model(s) {', '.join(unknown)}. Available: {', '.join(MODELS)}.")
    names = ["popularity"] + [n for n in dict.fromkeys(names) if n != "popularity"]
    inter = load_interactions(args.file, columns=column_overrides(args))
    print_warnings(inter.report.warnings if inter.report is not None else [])
    catalog = None
    if args.items:
        from recsys.data import load_items

        catalog = load_items(args.items)
    results = run_protocol(inter, names, protocol=args.split, k=args.k, seed=args.seed, catalog=catalog)
    reference = results[0][1]
    vs_reference = {name: compare(ev, reference) for name, ev, _ in results[1:]}

    def no_nan(value):
        """JSON-safe copy: NaN becomes null, tuples become lists."""
        if isinstance(value, dict):
            return {key: no_nan(v) for key, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [no_nan(v) for v in value]
        if isinstance(value, float) and value != value:
            return None
        return value

    if args.json:
        print(json.dumps({
            "file": str(args.file),
            "protocol": args.split,
            "k": args.k,
            "seed": args.seed,
            "split": reference.split_report,
            "results": [
                no_nan({
                    "model": name,
                    "fit_seconds": round(seconds, 3),
                    "users": ev.n_users,
                    "summary": ev.summary,
                    "ci": ev.ci,
                    "vs_popularity": vs_reference.get(name),
                    "notes": ev.notes,
                })
                for name, ev, seconds in results
            ],
        }, indent=1, allow_nan=False))
        return 0

    k = args.k
    columns = [("ndcg", f"NDCG@{k} [95% CI]"), ("recall", f"Recall@{k}"), ("precision", f"Prec@{k}"),
               ("map", f"MAP@{k}"), ("mrr", f"MRR@{k}"), ("hit_rate", f"Hit@{k}"), ("auc", "AUC"),
               ("coverage", "Coverage"), ("novelty", "Novelty"), ("diversity", "Diversity")]

    def cell(ev, metric: str) -> str:
        value = ev.summary.get(metric)
        if value is None or value != value:
            return "-"
        if metric == "ndcg":
            low, high = ev.ci.get("ndcg", (float("nan"), float("nan")))
            return f"{value:.4f} [{low:.4f}, {high:.4f}]"
        return f"{value:.2f}" if metric == "novelty" else f"{value:.4f}"

    header = ["model", *[title for _, title in columns], "fit s", "vs popularity"]
    rows = []
    for name, ev, seconds in results:
        verdict = "(reference)"
        if name in vs_reference:
            c = vs_reference[name]
            word = {"a": "better", "b": "worse", None: "no clear difference"}[c["better"]]
            verdict = f"{word} (p={c['p_value']:.3g})"
        rows.append([name, *[cell(ev, metric) for metric, _ in columns], f"{seconds:.1f}", verdict])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(" ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r in rows:
        print(" ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print()
    print(f"Split: {args.split}, seed {args.seed}; {reference.n_users:,} test users, metrics at K={k}.")
    for note in reference.split_report.get("notes", []):
        print(f"  {note}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Register the file as a dataset (or find it, if the same bytes were registered before), queue a
    training run, and print the run id on stdout (a sentence about it on stderr). ``--set device=cuda``
    asks for a device; ``--set seed=N`` on a model without a ``seed`` setting is the split seed. ``--tune``
    queues a tuning run (settings searched on the validation part within ``--minutes`` and/or
    ``--trials``; ``--set`` settings are then fixed, not searched)."""
    from recsys.jobs import Estimate, JobRefused, submit
    from recsys.models.settings import DEVICE, SEED
    from recsys.store import Store

    cls = model_class(args.model)
    raw = parse_settings(args.set)
    seed = args.seed
    if "seed" in raw and "seed" not in cls.param_names():
        seed = raw.pop("seed")
    seed = SEED.check(42 if seed is None else seed, "the split")
    params = cls.check_params(raw)  # every bad value is refused here, before anything is stored
    device = DEVICE.check(params.pop("device", None) or args.device or "auto") or "auto"
    if (args.minutes is not None or args.trials is not None) and not args.tune:
        raise DataError("--minutes and --trials are the budget of a tuning run: add --tune.")
    tune = {"minutes": args.minutes, "trials": args.trials} if args.tune else None
    engine = engine_of(args)
    store = Store()
    dataset_id = store.add_dataset(args.file, columns=column_overrides(args), items=args.items,
                                   creator_column=args.creator_col)
    print_warnings((store.dataset(dataset_id).get("report") or {}).get("warnings", []))
    try:
        run_id = submit(store, dataset_id, args.model, params, protocol=args.split, seed=seed, device=device,
                        engine=engine["name"], master=engine.get("master"), spark_conf=engine.get("conf"), tune=tune)
    except JobRefused as exc:
        raise DataError(str(exc)) from exc
    run = store.run(run_id)
    guess = Estimate(**run["estimate"])
    on_spark = f" on Spark ({engine['master']})" if engine["name"] == "spark" else ""
    kind = "tuning run" if run["tune"] else "run"
    print(f"queued {kind} {run_id}: {run['model']}{on_spark} on dataset {dataset_id} ({run['dataset_name']}), "
          f"{run['protocol']} split, seed {run['seed']}; estimate {guess.to_text()}. "
          f"Start `python -m recsys worker` to train it.", file=sys.stderr)
    print(run_id)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Train queued runs in this process (``--once``: until the queue is empty; otherwise until it has
    been idle for a minute)."""
    from recsys.jobs import run_worker
    from recsys.store import Store

    store = Store()
    processed = run_worker(store, once=args.once)
    print(f"worker finished: {processed} run(s) processed", file=sys.stderr)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """List runs, newest first: id, status, model, dataset, device, split and headline metrics
    (``--json``: every stored field)."""
    import json

    from recsys.engines import trained_on
    from recsys.jobs import worker_state
    from recsys.store import Store

    store = Store()
    worker_state(store)  # marks runs of dead workers interrupted before listing
    records = store.run_records()
    if args.json:
        print(json.dumps(records, indent=1, default=str))
        return 0
    if not records:
        print("no runs yet: queue one with `python -m recsys submit FILE --model NAME`")
        return 0
    header = ["id", "status", "model", "dataset", "device", "split", "epochs", "NDCG", "Recall", "note"]
    rows = []
    for rec in records:
        summary = rec["summary"] or {}
        k = rec["k"]
        epochs = f"{rec['epochs_done']}/{rec['epochs_total']}" if rec["epochs_total"] else ""
        rows.append([
            str(rec["id"]), rec["status"] + (" (baseline)" if rec["is_baseline"] else ""),
            rec["model"] + (f" (tuned, {rec['trials_done']} trials)" if rec["tune"] else ""),
            f"{rec['dataset_id']}: {rec['dataset_name']}",
            trained_on(rec.get("engine"), rec["device"] or rec["device_requested"]),
            f"{rec['protocol']}/{rec['seed']}", epochs,
            f"{summary['ndcg']:.4f}@{k}" if summary.get("ndcg") is not None else "-",
            f"{summary['recall']:.4f}@{k}" if summary.get("recall") is not None else "-",
            rec["error"] or "",
        ])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the data folder (database integrity, rows against folders, manifests, leftovers) and print a
    plain report; ``--repair`` fixes what can be fixed (rebuilds rows from manifests, sets a damaged
    database aside, removes leftovers, quarantines unexplained folders). Exit 0 when no problem
    remains, 1 when some do."""
    from recsys.store import doctor

    report = doctor(repair=args.repair)
    print(report.to_text())
    return 0 if report.ok else 1


def cmd_models(args: argparse.Namespace) -> int:
    """List every model with its settings: name, type, default, what is allowed and what it means
    (``--json``: the same as JSON, with the tuning ranges)."""
    import json

    from recsys.models import MODELS

    if args.json:
        print(json.dumps({"models": [{
            "name": name, "description": cls.description, "feedback": cls.feedback,
            "iterative": cls.iterative, "needs_catalog": cls.needs_catalog,
            "supports_fold_in": cls.supports_fold_in,
            "settings": [setting.to_dict() for setting in cls.settings],
        } for name, cls in MODELS.items()]}, indent=1))
        return 0
    for name, cls in MODELS.items():
        print(f"{name}: {cls.description}")
        rows = [["setting", "type", "default", "allowed", "meaning"]]
        rows += [[s.name, s.kind, "none" if s.default is None else str(s.default).lower() if s.kind == "bool"
                  else str(s.default), s.allowed(), f"{s.label}: {s.help}"] for s in cls.settings]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
        print()
    print("Change a setting with --set NAME=VALUE, e.g. `python -m recsys train FILE --model ials --set factors=32`.")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the stakeholder report of a dataset (``--runs``: only these runs) as one self-contained HTML
    file (``--pdf``: printed to PDF by headless Chromium); people under pseudonyms unless ``--keep-ids``."""
    from pathlib import Path

    from recsys.report import build_report, print_pdf
    from recsys.store import Store

    runs = None
    if args.runs:
        try:
            runs = [int(part) for part in args.runs.split(",") if part.strip()]
        except ValueError as exc:
            raise DataError(f"--runs expects run ids separated by commas, like 3,5,8; got {args.runs!r}.") from exc
    report = build_report(Store(), args.dataset, run_ids=runs, keep_ids=args.keep_ids)
    out = Path(args.out)
    if args.pdf:
        try:
            out.write_bytes(print_pdf(report.html))
        except RuntimeError as exc:
            raise DataError(str(exc)) from exc
    else:
        out.write_text(report.html, encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): dataset {args.dataset}, runs "
          f"{', '.join(map(str, report.run_ids))}, {report.charts} charts, people "
          f"{'under their ids' if args.keep_ids else 'under pseudonyms'}; built in {report.seconds:.1f} s", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys", description="Tastemaker recommender toolkit")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("validate", cmd_validate, "check an interactions file and print its report")
    p.add_argument("file")
    _add_column_options(p)

    p = add("train", cmd_train, "train one model on every row of a file and save it")
    p.add_argument("file")
    p.add_argument("--model", required=True)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a hyperparameter (repeatable)")
    p.add_argument("--items", help="item catalogue file (titles, genres/tags)")
    p.add_argument("--out", required=True, help="directory to save the model in")
    _add_engine_options(p)
    _add_column_options(p)

    p = add("tune", cmd_tune, "search a model's settings on held-out data, then train the best on every row")
    p.add_argument("file")
    p.add_argument("--model", required=True)
    p.add_argument("--trials", type=int, default=None, help="at most this many trials")
    p.add_argument("--minutes", type=float, default=None,
                   help="at most this many minutes of searching (default 5 when --trials is not given)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="fix a setting instead of searching it")
    p.add_argument("--seed", type=int, default=42, help="seed of the held-out part and of the search")
    p.add_argument("--items", help="item catalogue file (titles, genres/tags)")
    p.add_argument("--out", required=True, help="directory to save the tuned model in")
    _add_column_options(p)

    p = add("recommend", cmd_recommend, "write top-k recommendations of a saved model or a run as CSV")
    p.add_argument("model_dir", nargs="?", help="folder of a model saved by `train` (or use --run)")
    p.add_argument("--run", type=int, help="a finished run's id: its serving model, trained on every interaction")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--users", default="all", help="'all' or comma-separated user ids")
    p.add_argument("--out", required=True, help="CSV file to write (user,item,rank,score)")

    p = add("evaluate", cmd_evaluate, "split, train and compare models on held-out data")
    p.add_argument("file")
    p.add_argument("--models", required=True, help="comma-separated model names")
    p.add_argument("--split", default="random", choices=["random", "temporal", "global_temporal", "loo", "users"])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--items", help="item catalogue file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_column_options(p)

    p = add("submit", cmd_submit, "register a dataset (if new) and queue a training run")
    p.add_argument("file")
    p.add_argument("--model", required=True)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--split", default=None, choices=["random", "temporal", "global_temporal", "loo", "users"])
    p.add_argument("--seed", type=int, default=None, help="seed of the held-out split (default 42)")
    p.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    p.add_argument("--items", help="item catalogue file")
    p.add_argument("--creator-col", help="the catalogue's column saying who made each item (artist, author, "
                   "studio...; detected by name when omitted, '' for none)")
    p.add_argument("--tune", action="store_true", help="search the settings on validation data first")
    p.add_argument("--minutes", type=float, default=None, help="tuning budget in minutes (default 5)")
    p.add_argument("--trials", type=int, default=None, help="tuning budget in trials")
    _add_engine_options(p)
    _add_column_options(p)

    p = add("models", cmd_models, "list every model and its settings")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = add("report", cmd_report, "write a dataset's stakeholder report as one self-contained HTML file")
    p.add_argument("--dataset", type=int, required=True, help="dataset id (see `python -m recsys runs`)")
    p.add_argument("--runs", help="comma-separated run ids to show (default: every finished run on the main split)")
    p.add_argument("--keep-ids", action="store_true", help="show people's own ids instead of pseudonyms")
    p.add_argument("--pdf", action="store_true", help="print the report to PDF with headless Chromium")
    p.add_argument("--out", required=True, help="file to write (report.html, or report.pdf with --pdf)")

    p = add("worker", cmd_worker, "train queued runs in this process")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")

    p = add("runs", cmd_runs, "list training runs")
    p.add_argument("--json", action="store_true")

    p = add("doctor", cmd_doctor, "check the data folder and, with --repair, fix what can be fixed")
    p.add_argument("--repair", action="store_true",
                   help="rebuild missing rows from manifests, set a damaged database aside, tidy leftovers")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from recsys.store import StoreError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        from recsys.models.base import ModelError

        kind = "error" if isinstance(exc, ModelError) else f"unexpected error ({type(exc).__name__})"
        print(f"{kind}: {exc}", file=sys.stderr)
        return 2
