"""Train: choose a dataset, a way to test and some models; training runs in the background worker."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

import ui
from recsys import jobs
from recsys.engines import SPARK_MODELS, spark, trained_on
from recsys.models import MODELS
from recsys.models.settings import Setting
from recsys.split import PROTOCOL_DESCRIPTIONS, PROTOCOLS
from ui import charts, state, words
from ui import format as fmt
from ui import tuning as tuning_ui

ui.through_app()  # before anything else: a page run on its own reruns through app.py (ui/navigation.py)

ACTIVE = ("queued", "running")
NEEDS_TIME = ("temporal", "global_temporal")
HIDDEN_SETTINGS = ("device",)  # chosen once for all models below
SKIPPED = "tm_train_skipped"  # models the last start could not queue, with the reasons


# -- the form --------------------------------------------------------------------------------------
def _step(setting: Setting) -> float:
    """A number widget's step: a tenth of the default's order of magnitude (0.05 -> 0.001, 200 -> 10)."""
    if setting.default:
        return 10 ** math.floor(math.log10(abs(setting.default))) / 10
    return 1.0 if (setting.high or 0) > 10 else 0.01


def _setting_input(model: str, setting: Setting):
    """The widget a setting's declaration asks for (type, range, choices, plain label and help), with the
    model's default filled in; returns the chosen value (``None`` for an empty optional number)."""
    key = f"param_{model}_{setting.name}"
    common = {"key": key, "help": setting.help}
    if setting.kind == "bool":
        return st.toggle(setting.label, value=bool(setting.default), **common)
    if setting.kind == "choice":
        return st.selectbox(setting.label, setting.choices, index=setting.choices.index(setting.default),
                            format_func=setting.choice_label, **common)
    if setting.kind in ("int", "float"):
        cast = int if setting.kind == "int" else float
        bounds = {"min_value": None if setting.low is None else cast(setting.low),
                  "max_value": None if setting.high is None else cast(setting.high)}
        placeholder = f"empty: {setting.none_means}" if setting.optional else None
        value = None if setting.default is None else cast(setting.default)
        if setting.kind == "int":
            return st.number_input(setting.label, value=value, step=1, placeholder=placeholder, **bounds, **common)
        return st.number_input(setting.label, value=value, step=_step(setting), format="%g",
                               placeholder=placeholder, **bounds, **common)
    text = st.text_input(setting.label, value="" if setting.default is None else str(setting.default),
                         placeholder=f"empty: {setting.none_means}" if setting.optional else None, **common)
    return text.strip() or (None if setting.optional else setting.default)


def _model_settings(model: str) -> dict:
    """The expander of one model's settings; returns only the settings changed from the defaults."""
    shown = [s for s in MODELS[model].settings if s.name not in HIDDEN_SETTINGS]
    chosen = {}
    with st.expander(f"{words.model_label(model)}: settings", expanded=False):
        st.markdown(_describe(model))
        if not shown:
            st.caption("This model has nothing to tune.")
        # the form is a narrow column: numbers two across (three broke labels mid-word), switches and
        # choices on their own line so their labels are never cut
        numbers = [s for s in shown if s.kind in ("int", "float")]
        others = [s for s in shown if s.kind not in ("int", "float")]
        cols = st.columns(2)
        for i, setting in enumerate(numbers):
            with cols[i % 2]:
                value = _setting_input(model, setting)
            if value != setting.default:
                chosen[setting.name] = value
        for setting in others:
            value = _setting_input(model, setting)
            if value != setting.default:
                chosen[setting.name] = value
    return chosen


def _describe(model: str) -> str:
    """``**Label**: what it does``; a description that already starts with a name keeps it."""
    description = MODELS[model].description.strip()
    head, sep, rest = description.partition(": ")
    if sep and len(head) <= 30:
        return f"**{head}**: {rest}"
    return f"**{words.model_label(model)}**: {description}"


def _default_models(summary: dict, available: list[str]) -> list[str]:
    suggested = [m["model"] for m in (summary.get("report") or {}).get("suggested_models", [])]
    personalised = [m for m in suggested if m in available and m != "popularity"]
    return personalised[:2] or ["itemknn"]


def how_values_are_used(picked: list[str], settings: dict, summary: dict, nouns) -> None:
    """On data with numbers (plays, clicks, stars): say, for each picked model, whether it weighs them or
    counts every interaction once, and which setting changes that."""
    from recsys.value_use import uses_values, value_setting

    report = summary.get("report") or {}
    if not (report.get("value_range") or report.get("rating_scale")) or not picked:
        return
    value = nouns.value or "values"
    lines = []
    for model in picked:
        label = words.model_label(model)
        switch = value_setting(model)
        change = f" (setting “{switch.label}”)" if switch is not None else ""
        if uses_values(model, settings.get(model)):
            lines.append(f"- **{label}** weighs each {nouns.event} by its {value}: a {nouns.item} with many {value} "
                         f"counts more than one with few{change}.")
        else:
            lines.append(f"- **{label}** counts every {nouns.event} once, however many {value}{change}.")
    with st.container(border=True):
        st.markdown(f"**How the {value} are used**\n\n" + "\n".join(lines))


def training_form(dataset_id: int, summary: dict) -> None:
    report = summary.get("report") or {}
    suggested = report.get("suggested_split") or "random"
    protocols = [p for p in PROTOCOLS if summary["has_timestamps"] or p not in NEEDS_TIME]
    if suggested not in protocols:
        suggested = protocols[0]

    nouns = ui.nouns(dataset_id)
    st.markdown("**How to test**")
    # the choice's name alone in the box (a narrow column from 1280 px wide up); the suggestion is said below
    protocol = st.selectbox(
        f"Which {nouns.events} are hidden from the models, to test them on",
        protocols, index=protocols.index(suggested), key=f"protocol_{dataset_id}",
        format_func=lambda p: words.in_words(words.protocol_label(p), nouns),
    )
    st.caption(words.in_words(PROTOCOL_DESCRIPTIONS.get(protocol, ""), nouns))
    if protocol == suggested:
        st.caption(" ".join(["Suggested for this data.", words.in_words(report.get("split_reason") or "", nouns)]))
    else:
        st.caption(f"Suggested for this data: {words.in_words(words.protocol_label(suggested), nouns)}.")

    st.markdown("**Which models**")
    refused = jobs.model_refusals(ui.get_store(), dataset_id)
    available = [m for m in MODELS if m not in refused
                 and (protocol != "users" or MODELS[m].supports_fold_in)]  # held-out people need fold-in
    picked = st.multiselect(
        "Models to train (Popularity is always trained too, as the yardstick)", available,
        default=[m for m in _default_models(summary, available) if m in available], key=f"models_{dataset_id}",
        format_func=words.model_label, placeholder="Choose one or more models",
    )
    for reason in refused.values():
        st.caption(f"Not offered: {reason}")
    for model in picked:
        st.markdown(f"- {_describe(model)}")
    settings = {model: _model_settings(model) for model in picked}
    how_values_are_used(picked, settings, summary, nouns)

    st.markdown("**Where to train**")
    device_names = {"auto": "Automatic (the GPU when there is one)", "cpu": "CPU"}
    info = state.device_info()
    if info["kind"] == "cuda":
        device_names["cuda"] = f"GPU: {info['name']}"
    device = st.radio("Device", list(device_names), format_func=device_names.get, horizontal=True,
                      key="train_device", label_visibility="collapsed")
    engine = _engine_choice(picked)

    st.markdown("**Tuning**")
    tune = tuning_ui.tune_choice("train_tune")
    budgets = {model: tuning_ui.budget_for(model, tune, settings[model]) for model in picked}

    if not picked:
        st.info("Pick at least one model to see how long it will take.")
        return
    store = ui.get_store()
    rows, blocked, learned = [], [], []
    for model in picked:
        if budgets[model] is not None:  # a tuning run: the search's budget, then one run (on this machine)
            guess = jobs.estimate_tuning(summary, model, budgets[model], settings[model], device, store=store)
        else:
            guess = jobs.estimate(summary, model, settings[model], device, store=store)
        if guess.basis.startswith("calibrated"):
            learned.append(words.model_label(model))
        on_spark = bool(engine) and model in SPARK_MODELS and budgets[model] is None
        seconds = guess.seconds
        if on_spark:
            params = {**MODELS[model].default_params(), **settings[model]}
            seconds += spark.estimate_seconds(summary["n_users"], summary["n_items"], summary["n_interactions"],
                                              params, engine["master"])
        rows.append({"Model": words.model_label(model) + tuning_ui.tuned_label({"tune": budgets[model]}),
                     "Time": fmt.about(seconds),
                     "Memory": "≈ " + fmt.size(guess.memory_bytes),
                     "Runs on": "Spark" if on_spark else "GPU" if guess.device.startswith("cuda") else "CPU",
                     "Fits": "Yes" if guess.fits else "No"})
        if not guess.fits:
            blocked.append(f"**{words.model_label(model)}** cannot run: {guess.reason}.")
    st.markdown("**Estimate**")
    estimate_table(pd.DataFrame(rows))
    if not learned:
        basis = "These are first guesses until each model has run here once."
    elif len(learned) < len(picked):
        basis = (f"Learned from earlier runs on this machine for {', '.join(learned)}; first guesses for the others, "
                 "until they have run here once.")
    else:
        basis = f"Learned from earlier runs on this machine for {', '.join(learned)}; they get closer with every run."
    st.caption("Times include training each model again on all the data, for the recommendations it will make. "
               + basis)
    for message in blocked:
        st.warning(message)
    tuning_ui.untuned_note(picked, budgets, tune)

    if st.button(f"Start training {fmt.plural(len(picked), 'model')}", key="start_training", type="primary", disabled=len(blocked) == len(picked)):
        submitted, skipped = queue_models(store, dataset_id, picked, settings, protocol, device, engine, budgets)
        st.session_state[SKIPPED] = skipped
        if submitted:
            with ui.guard("starting the background worker"):
                jobs.ensure_worker(store)
            st.toast(f"Queued {fmt.plural(len(submitted), 'run')}: training has started.")
            st.rerun()
    show_skipped()


def estimate_table(rows: pd.DataFrame) -> None:
    """The estimate per model; the columns fit the form's narrow column from 1280 px wide up (where it
    runs is said once below, not in a fifth column)."""
    st.dataframe(rows, hide_index=True, width="stretch", column_order=["Model", "Time", "Memory", "Fits"],
                 column_config={
        "Model": st.column_config.TextColumn("Model", width=112),
        "Time": st.column_config.TextColumn("Time", width=80, help="Training, testing and retraining on all the "
                                                                    "data, about."),
        "Memory": st.column_config.TextColumn("Memory", width=72, help="The most it needs at once, about."),
        "Fits": st.column_config.TextColumn("Fits", width=40, help="Whether it fits this machine's memory and "
                                                                    "time limits."),
    })
    places = sorted(set(rows["Runs on"]))
    st.caption("Runs on the " + (places[0] if len(places) == 1 else " and the ".join(places)) + ".")


def queue_models(store, dataset_id: int, picked: list[str], settings: dict, protocol: str,
                 device: str, engine: dict | None = None, budgets: dict | None = None) -> tuple[list[int], dict[str, str]]:
    """Queue each picked model (on ``engine``, ``jobs.submit``'s Spark options, for the models that can
    train there; a model with a tuning budget in ``budgets`` as a tuning run, on this machine); one that
    is refused is skipped with its reason and the others still go.
    Returns (run ids queued, model -> why it was skipped)."""
    submitted: list[int] = []
    skipped: dict[str, str] = {}
    budgets = budgets or {}
    for model in picked:
        tune = budgets.get(model)
        try:
            submitted.append(jobs.submit(store, dataset_id, model, settings[model], protocol=protocol, device=device,
                                         tune=tune, **((engine or {}) if model in SPARK_MODELS and tune is None else {})))
        except Exception as exc:  # noqa: BLE001 - refusals (JobRefused), settings, store faults: worded for people
            if not ui.errors.is_user_error(exc):
                raise
            skipped[model] = str(exc)
    return submitted, skipped


def show_skipped() -> None:
    """Which chosen models were not queued at the last start, and why (kept across the page's rerun)."""
    for model, reason in (st.session_state.get(SKIPPED) or {}).items():
        st.warning(f"**{words.model_label(model)} was not queued**: {reason} The other models were queued.")


@st.cache_data(ttl=300, show_spinner=False)
def _spark_installed() -> bool:
    return spark.installed()


def _engine_choice(picked: list[str]) -> dict:
    """Where the models that can train on Spark learn, offered only when Spark is installed here: ``{}``
    for this machine, else ``jobs.submit``'s ``engine`` and ``master``."""
    if not _spark_installed():
        return {}
    names = {"local": "This machine", "spark": "Apache Spark"}
    choice = st.radio("Engine", list(names), format_func=names.get, horizontal=True, key="train_engine",
                      help="Spark trains Implicit ALS on a cluster and brings the result back here.")
    if choice == "local":
        return {}
    st.caption("Spark is for scale, not for speed on small data: it pays off when the interactions no longer "
               "fit on one machine (hundreds of millions of rows and more). On data this size this machine is "
               "faster, because starting Spark alone takes longer than the whole training here.")
    master = st.text_input(
        "Spark master URL", value=spark.default_master(), key="train_spark_master",
        help="local[2]: Spark on 2 cores of this machine. spark://HOST:7077: a standalone Spark cluster. "
             "yarn: a Hadoop cluster. k8s://https://HOST:443: Kubernetes.")
    others = [words.model_label(m) for m in picked if m not in SPARK_MODELS]
    if others:
        st.caption(f"Only Implicit ALS trains on Spark; {', '.join(others)} train on this machine.")
    return {"engine": "spark", "master": master.strip()}


# -- the live view ---------------------------------------------------------------------------------
def curves_figure(epochs: pd.DataFrame, title: str) -> go.Figure:
    """Training loss and quality on the validation data (set aside from training, never the test) per
    epoch, side by side."""
    metric = "ndcg@10"
    if "metric" in epochs and epochs["metric"].notna().any():
        metric = str(epochs["metric"].dropna().iloc[0])
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14, subplot_titles=(
        "Loss (lower is better)", f"{metric.upper()} on the validation data"))
    fig.add_trace(go.Scatter(x=epochs["epoch"], y=epochs["loss"], mode="lines+markers", name="Loss",
                             line=dict(color=charts.ACCENT, width=2),
                             hovertemplate="Pass %{x}: loss %{y:.4f}<extra></extra>"), row=1, col=1)
    valid = epochs.dropna(subset=["validation"]) if "validation" in epochs else epochs.iloc[0:0]
    fig.add_trace(go.Scatter(x=valid["epoch"], y=valid["validation"], mode="lines+markers", name=metric,
                             line=dict(color=charts.PALETTE[1], width=2),
                             hovertemplate="Pass %{x}: %{y:.3f}<extra></extra>"), row=1, col=2)
    total = None
    if "epochs" in epochs and epochs["epochs"].notna().any():
        total = int(epochs["epochs"].dropna().max())
    for col in (1, 2):
        fig.update_xaxes(title_text="Training pass (epoch)", row=1, col=col,
                         range=[0.5, total + 0.5] if total else None)
    fig.update_yaxes(title_text="Loss", row=1, col=1)
    fig.update_yaxes(title_text=f"{metric.upper()} (higher is better)", tickformat=".3f", rangemode="tozero",
                     row=1, col=2)
    if valid.empty:
        fig.update_yaxes(range=[0, 1], showticklabels=False, row=1, col=2)
        fig.add_annotation(text="The first quality check<br>comes after a few passes", showarrow=False,
                           x=0.5, y=0.5, xref="x2 domain", yref="y2 domain",
                           font=dict(color=charts.MUTED, size=13))
    fig.update_annotations(font_size=13, selector=dict(showarrow=False, y=1.0))
    fig.update_layout(showlegend=False)
    return charts.style(fig, title, height=300)


def _latest_check(epochs: pd.DataFrame) -> str | None:
    """"Latest quality check on the validation data: NDCG@10 0.103 after pass 5." or None before the
    first one."""
    if "validation" not in epochs or not epochs["validation"].notna().any():
        return None
    last = epochs.dropna(subset=["validation"]).iloc[-1]
    metric = str(last.get("metric") or "ndcg@10").upper()
    return (f"Latest quality check on the validation data: {metric} {fmt.metric(last['validation'])} after pass "
            f"{fmt.count(last['epoch'])}.")


def _run_title(run: dict) -> str:
    return f"{words.model_label(run['model'])} · run #{run['id']}"


def active_run_card(run: dict) -> None:
    store = ui.get_store()
    with st.container(border=True):
        head, button = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"**{_run_title(run)}** · {run['dataset_name']} · "
                      f"{words.in_words(words.protocol_label(run['protocol']), ui.nouns(int(run['dataset_id'])))}")
        if button.button("Cancel", key=f"cancel_{run['id']}", disabled=bool(run["cancel_requested"])):
            with ui.guard("cancelling the run"):
                jobs.cancel(store, int(run["id"]))
                st.toast(f"Cancelling run #{run['id']}…")
        progress = jobs.progress(run)
        eta = progress["eta_seconds"]
        if run["status"] == "queued":
            text = "Waiting in the queue"
            if eta is not None:
                text += f" · takes about {fmt.duration(eta)} once it starts"
            eta = None
        else:
            phase = words.PHASE_LABELS.get(run["phase"] or "", "Working")
            if run["phase"] == "tuning":
                phase += f": {fmt.plural(int(run['trials_done'] or 0), 'trial')} done"
            elif run["epochs_total"]:
                phase += f": pass {fmt.count(run['epochs_done'])} of {fmt.count(run['epochs_total'])}"
            text = phase
        if run["cancel_requested"]:
            text += " · stopping after this pass"
        if eta is not None:
            text += f" · about {fmt.duration(eta)} left"
        elif run["status"] == "running" and progress["late"]:
            text += " · taking longer than estimated"
        elif run["status"] == "running" and run["phase"] in ("evaluating", "refitting", "saving"):
            text += " · finishing"
        st.progress(float(progress["fraction"] or 0.0), text=text)
        if run["status"] == "running" and run.get("tune"):
            with st.expander("Settings tried so far", expanded=run["phase"] == "tuning"):
                tuning_ui.tuning_panel(run, store.trials(int(run["id"])), key=f"live_tuning_{run['id']}")
        if run["status"] == "running" and run["epochs_total"]:
            epochs = store.epochs(int(run["id"]))
            if len(epochs):
                charts.show(curves_figure(epochs, "Learning as it goes"), key=f"live_curves_{run['id']}")
                check = _latest_check(epochs)
                if check:
                    st.caption(check)


def failure_cards(runs: pd.DataFrame, limit: int = 5) -> None:
    """The latest runs that failed or were interrupted, each with its reason in plain words and what to
    do, in full (never in a table column off the edge)."""
    failed = runs[runs["status"].isin(("failed", "interrupted"))].head(limit)
    for run in failed.to_dict("records"):
        what = "failed" if run["status"] == "failed" else "was interrupted"
        when = f" on {fmt.when(run['finished_at'])}" if run.get("finished_at") else ""
        st.error(f"**{_run_title(run)} {what}**{when}. {run['error'] or 'No reason was recorded.'}", icon="❌")


def runs_table(runs: pd.DataFrame) -> None:
    metric = next((m for m in ("ndcg", "ndcg@10") if m in runs), None)
    failed = runs["status"].isin(("failed", "interrupted"))
    shown = pd.DataFrame({
        "Run": runs["id"].map(lambda i: f"#{i}"),
        "Model": runs["model"].map(words.model_label) + runs["is_baseline"].map({True: " (yardstick)", False: ""})
        + runs["tune"].map(lambda tune: tuning_ui.tuned_label({"tune": tune})),
        "Status": runs["status"].map(words.status_label) + failed.map({True: ": see above", False: ""}),
        "Took": runs["duration_seconds"].map(lambda s: "< 1 s" if s is not None and s == s and s < 1 else fmt.duration(s)),
        "NDCG@10": runs[metric].map(fmt.metric) if metric else "–",
        "Device": pd.Series([(trained_on(engine, device) or "–").upper()
                             for engine, device in zip(runs["engine"], runs["device"], strict=True)], index=runs.index),
        "Tested on": runs["protocol"].map(words.protocol_label),
    })
    # the columns fit the page's right-hand column from 1280 px wide up; device and split only when they vary
    order = ["Run", "Model", "Status", "Took", "NDCG@10"]
    order += [c for c in ("Device", "Tested on") if shown[c].nunique() > 1]
    st.dataframe(shown, hide_index=True, width="stretch", column_order=order, column_config={
        "Run": st.column_config.TextColumn("Run", width=40),
        "Model": st.column_config.TextColumn("Model", width=156),
        "Status": st.column_config.TextColumn("Status", width=112),
        "Took": st.column_config.TextColumn("Took", width=52),
        "NDCG@10": st.column_config.TextColumn(
            "NDCG@10", width=68, help="Ranking quality on the held-out test data, 0 to 1: higher is better."),
        "Device": st.column_config.TextColumn("Device", width=60),
        "Tested on": st.column_config.TextColumn("Tested on", width=200),
    })


def live_view(dataset_id: int) -> None:
    store = ui.get_store()
    with ui.guard("checking on the worker"):
        jobs.ensure_worker(store)
    every = store.list_runs()
    active = every[every["status"].isin(ACTIVE)]
    st.subheader("Now training", anchor=False)
    if active.empty:
        st.caption("Nothing is training right now. Runs you start appear here with live curves.")
    else:
        for run in active.sort_values("id").to_dict("records"):
            active_run_card(run)
    finished = every[(every["dataset_id"] == dataset_id) & ~every["status"].isin(ACTIVE)]
    st.subheader("Finished on this dataset", anchor=False)
    if finished.empty:
        st.caption("No finished runs yet.")
        return
    failure_cards(finished)
    runs_table(finished.head(30))
    done = finished[finished["status"].eq("done") & finished["epochs_total"].fillna(0).gt(0)]
    if not done.empty:
        with st.expander("Training curves of a finished run"):
            labels = {int(r["id"]): _run_title(r) for r in done.to_dict("records")}
            chosen = st.selectbox("Run", list(labels), format_func=labels.get, key="curves_run")
            epochs = store.epochs(chosen)
            if len(epochs):
                charts.show(curves_figure(epochs, f"How {labels[chosen]} learned"), key="finished_curves")
                check = _latest_check(epochs)
                if check:
                    st.caption(check)
    tuning_ui.finished_trials(store, finished)
    st.page_link(ui.navigation.path("results.py"), label="Compare them on the Results page →")


def _something_active() -> bool:
    runs = ui.get_store().list_runs()
    return bool(runs["status"].isin(ACTIVE).any())


@st.fragment(run_every=state.POLL_SECONDS)
def live_polling(dataset_id: int) -> None:
    """Refreshes itself while runs are queued or training; once all are done, refreshes the whole page
    (which stops the polling)."""
    live_view(dataset_id)
    if not _something_active():
        st.rerun(scope="app")


@st.fragment
def live_still(dataset_id: int) -> None:
    live_view(dataset_id)


# -- the page ----------------------------------------------------------------------------------------
ui.page_header(
    "Train models",
    "Pick how to test and which models to compare. Training happens in the background: you can leave "
    "this page, or close the tab, and come back later.",
    kicker="Step 2 · Train",
)
dataset_id = ui.dataset_picker("Dataset", key="train_dataset_picker")
if dataset_id is not None:
    summary = ui.dataset_summary(dataset_id)
    form, live = st.columns([5, 6], gap="medium")  # the form's tables fit from 1280 px wide up
    with form, st.container(border=True), ui.guard("preparing the training form"):
        training_form(dataset_id, summary)
    with live, ui.guard("showing the runs"):
        if _something_active():
            live_polling(dataset_id)
        else:
            live_still(dataset_id)
