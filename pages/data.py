"""Data: look at a dataset, add your own file, and manage what is saved."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

import ui
from recsys.data import DataReport, detect_columns, load_interactions, load_items, read_table
from recsys.profile import profile_frames
from recsys.reading import MAX_UPLOAD_BYTES
from recsys.split import PROTOCOL_DESCRIPTIONS
from ui import charts, state, words
from ui import format as fmt

UPLOAD_TYPES = ["csv", "tsv", "txt", "dat", "gz", "bz2", "xz", "zip", "parquet", "pq"]
PREVIEW_ROWS = 1_000  # read to guess the columns and show a sample; "Check the data" reads the whole file
ROLE_FIELDS = {
    "user": ("Who: the person's id", "The column that says who interacted (user, listener, customer...)."),
    "item": ("What: the item's id", "The column that says what they interacted with (movie, track, product...)."),
    "rating": ("How much: rating or count (optional)", "Stars, plays, clicks or any weight. Leave empty when "
               "every row simply means 'interacted'."),
    "time": ("When: timestamp (optional)", "Unix seconds or a date. Lets you test on what happened most recently."),
}
NO_COLUMN = "— none —"
UPLOAD, CHECKED, CATALOG, SAVED = "tm_upload", "tm_checked", "tm_catalog", "tm_saved_uploads"


# -- pieces shared by the saved-dataset view and the upload preview ----------------------------------
def show_key_numbers(report: DataReport) -> None:
    cols = st.columns(4)
    cols[0].metric("Ratings" if report.explicit else "Interactions", fmt.count(report.n_interactions),
                   border=True)
    cols[1].metric("People", fmt.count(report.n_users), border=True)
    cols[2].metric("Items", fmt.count(report.n_items), border=True)
    cols[3].metric("Filled", fmt.percent(report.density, 2), border=True,
                   help="Share of all person-item pairs that have an interaction (density).")


def _bold_label(line: str) -> str:
    label, sep, rest = line.partition(": ")
    return f"- **{label}:** {rest}" if sep and len(label) < 25 else f"- {line}"


def show_report(report: DataReport) -> None:
    """The report in plain language: one bullet per fact, then warnings, then how the file was read."""
    lines = report.to_text().splitlines()
    facts = []
    for line in lines[1:]:
        if line.startswith(("Suggested", "How the file", "Warnings", "  - ")):
            break
        facts.append(line)
    st.markdown("\n".join(_bold_label(line) for line in facts))
    for warning in report.warnings:
        st.warning(warning)
    if report.detected:
        with st.expander("How the file was read"):
            st.markdown("\n".join(f"- {note}" for note in report.detected))


def show_suggestions(report: DataReport) -> None:
    """The suggested way to test and the model shortlist, with reasons."""
    with st.container(border=True):
        st.markdown("**Suggested way to test**")
        st.markdown(f"**{words.protocol_label(report.suggested_split)}.** "
                    f"{PROTOCOL_DESCRIPTIONS.get(report.suggested_split, '')}")
        if report.split_reason:
            st.caption(report.split_reason)
        if report.suggested_models:
            st.markdown("**Models worth trying**")
            st.markdown("\n".join(f"- **{words.model_label(m['model'])}**: {m['reason']}"
                                  for m in report.suggested_models))


def _count_bars(frame, title: str, x: str, y: str, color: str) -> go.Figure:
    fig = go.Figure(go.Bar(
        x=frame["label"], y=frame["entities"], marker_color=color,
        customdata=frame["share"] * 100,
        hovertemplate="%{x} interactions: %{y:,} (%{customdata:.1f}%)<extra></extra>",
    ))
    fig.update_yaxes(type="log", dtick=1, tickformat=",")
    fig.update_xaxes(type="category")
    return charts.style(fig, title, x=x, y=y, height=330)


def show_profile(profile: dict, key: str) -> None:
    """The four profile charts: activity per person, popularity per item, values, activity over time."""
    medians = profile["medians"]
    left, right = st.columns(2)
    with left:
        charts.show(_count_bars(profile["users"], "How active are people?",
                                "Interactions per person (grouped, log scale)", "People (log scale)",
                                charts.PALETTE[1]), key=f"{key}_users")
        st.caption(f"Half of the people have at most {fmt.count(medians['per_user'])} interactions.")
    with right:
        charts.show(_count_bars(profile["items"], "How popular are items? (the long tail)",
                                "Interactions per item (grouped, log scale)", "Items (log scale)",
                                charts.ACCENT), key=f"{key}_items")
        st.caption(f"The popular items (the top {profile['head_percent']}% by interactions) receive "
                   f"{fmt.percent(profile['head_share'], 0)} of all "
                   f"interactions; half of the items have at most {fmt.count(medians['per_item'])}.")
    left, right = st.columns(2)
    with left:
        values = profile["values"]
        if values is None:
            st.info("No ratings or counts in this data: every interaction counts the same.")
        else:
            rating = profile["value_kind"] == "rating"
            fig = go.Figure(go.Bar(
                x=values["label"], y=values["interactions"], marker_color=charts.PALETTE[2],
                customdata=values["share"] * 100,
                hovertemplate="%{x}: %{y:,} (%{customdata:.1f}%)<extra></extra>",
            ))
            fig.update_xaxes(type="category")
            charts.show(charts.style(fig, "How are ratings spread?" if rating else "How are weights spread?",
                                     "Rating" if rating else "Weight (plays, clicks…)", "Interactions",
                                     height=330), key=f"{key}_values")
    with right:
        timeline = profile["time"]
        if timeline is None:
            st.info("No timestamps in this data, so there is no timeline (and no 'most recent' test).")
        else:
            period = profile["time_period"]
            fig = go.Figure(go.Scatter(
                x=timeline["period"], y=timeline["interactions"], mode="lines", line=dict(color=charts.PALETTE[4],
                                                                                           width=2),
                fill="tozeroy", fillcolor="rgba(142,92,158,0.15)", customdata=timeline["active_users"],
                hovertemplate="%{x|%d %b %Y}: %{y:,} interactions by %{customdata:,} people<extra></extra>",
            ))
            charts.show(charts.style(fig, "Activity over time", f"{period.capitalize()}",
                                     f"Interactions per {period}", height=330), key=f"{key}_time")


# -- tab 1: a saved dataset --------------------------------------------------------------------------
def overview_tab() -> None:
    dataset_id = ui.dataset_picker("Dataset to look at", key="data_overview_picker")
    if dataset_id is None:
        return
    summary = ui.dataset_summary(dataset_id)
    report = DataReport.from_dict(summary["report"] or {})
    source = summary["source_name"]
    st.caption(f"From {source} · added {fmt.when(summary['created_at'])}"
               + (" · with an item catalogue" if summary["has_catalog"] else ""))
    show_key_numbers(report)
    st.subheader("What is in it", anchor=False)
    left, right = st.columns([3, 2], gap="large")
    with left:
        show_report(report)
    with right:
        show_suggestions(report)
        st.page_link("pages/train.py", label="Train models on this dataset →")
    st.subheader("Profile", anchor=False)
    with ui.guard("drawing the profile charts"):
        show_profile(state.profile(dataset_id), key=f"profile_{dataset_id}")


# -- tab 2: upload ---------------------------------------------------------------------------------
def _read_upload(upload) -> dict:
    """Read the uploaded interactions once per file (kept in the session) and detect its columns."""
    cached = st.session_state.get(UPLOAD)
    if cached and cached["file_id"] == upload.file_id:
        return cached
    record = {"file_id": upload.file_id, "name": upload.name, "size": upload.size, "frame": None, "error": None}
    try:
        with st.status(f"Reading {upload.name} ({fmt.size(upload.size)})…", expanded=False) as status:
            frame = read_table(upload, max_rows=PREVIEW_ROWS)
            some = "the first " if len(frame) >= PREVIEW_ROWS else ""
            status.update(label=f"Read {some}{fmt.count(len(frame))} rows ({len(frame.columns)} columns) of "
                                f"{upload.name}", state="complete")
        record["frame"] = frame
        detected = detect_columns(frame)
        for role in ROLE_FIELDS:
            column = detected.get(role)
            st.session_state[f"column_{role}"] = str(column) if column is not None else NO_COLUMN
        st.session_state["dataset_name"] = Path(upload.name.removesuffix(".gz")).stem or "My dataset"
    except Exception as exc:  # noqa: BLE001 - shown below as a readable error
        record["error"] = exc
    st.session_state[UPLOAD] = record
    st.session_state.pop(CHECKED, None)
    return record


def _read_catalog(upload) -> dict:
    cached = st.session_state.get(CATALOG)
    if cached and cached["file_id"] == upload.file_id:
        return cached
    record = {"file_id": upload.file_id, "name": upload.name, "catalog": None, "error": None}
    try:
        with st.spinner(f"Reading the catalogue {upload.name}…"):
            record["catalog"] = load_items(upload)
    except Exception as exc:  # noqa: BLE001 - shown below as a readable error
        record["error"] = exc
    st.session_state[CATALOG] = record
    return record


def _chosen_columns(frame) -> dict[str, str | None]:
    options = [str(c) for c in frame.columns]
    mapping: dict[str, str | None] = {}
    cols = st.columns(4)
    for col, (role, (label, help_text)) in zip(cols, ROLE_FIELDS.items(), strict=True):
        choices = options if role in ("user", "item") else [NO_COLUMN, *options]
        key = f"column_{role}"
        if st.session_state.get(key) not in choices:
            st.session_state[key] = choices[0]
        value = col.selectbox(label, choices, key=key, help=help_text)
        mapping[role] = None if value == NO_COLUMN else value
    return mapping


def upload_tab() -> None:
    st.markdown("Upload a table with **one row per interaction**: who, what, and optionally how much and "
                f"when. CSV, TSV, compressed (.gz, .zip) or Parquet, up to {MAX_UPLOAD_BYTES // 10**6:,} MB.")
    left, right = st.columns([3, 2], gap="large")
    upload = left.file_uploader("Interactions file", type=UPLOAD_TYPES, key="upload_interactions",
                                help="For example ratings.csv with columns userId, movieId, rating, timestamp.")
    catalog_upload = right.file_uploader(
        "Item catalogue (optional)", type=UPLOAD_TYPES, key="upload_catalog",
        help="One row per item with its id and a title; genres or tags, a description and an image link "
             "make the recommendations easier to explain.")
    catalog = None
    if catalog_upload is not None:
        with right:
            record = _read_catalog(catalog_upload)
            if record["error"] is not None:
                ui.show_error(record["error"], "reading the catalogue")
            else:
                catalog = record["catalog"]
                st.success(f"Catalogue: {fmt.plural(len(catalog.frame), 'item')} described.")
                creator = _creator_choice(catalog, catalog_upload.file_id)
    if upload is None:
        st.info("No file yet. Try the demo on the first tab, or drop your own file above.")
        return
    if upload.file_id in st.session_state.get(SAVED, {}):
        st.success(f"Saved as **{st.session_state[SAVED][upload.file_id]}**. It is now the current dataset. "
                   "Upload another file to add more.")
        st.page_link("pages/train.py", label="Train models on it →")
        return
    record = _read_upload(upload)
    if record["error"] is not None:
        ui.show_error(record["error"], "reading your file")
        return
    frame = record["frame"]

    st.subheader("1 · Confirm the columns", anchor=False)
    st.caption("We guessed which column is which. Change any guess that is wrong.")
    mapping = _chosen_columns(frame)
    st.dataframe(frame.head(8), hide_index=True, height=240)
    checked = st.session_state.get(CHECKED)
    is_current = checked is not None and checked["file_id"] == record["file_id"] and checked["columns"] == mapping
    if st.button("Check the data", key="check_data", type="secondary" if is_current else "primary"):
        with ui.guard("checking your data") as outcome:
            with st.status(f"Checking every row of {upload.name}…", expanded=False) as status:
                inter = load_interactions(upload, mapping)
                status.update(label="Profiling…")
                profile = profile_frames(inter)
                status.update(label=f"Checked {fmt.count(inter.report.rows_read)} rows", state="complete")
        if outcome.ok:
            checked = {"file_id": record["file_id"], "columns": mapping, "report": inter.report, "profile": profile}
            st.session_state[CHECKED] = checked
            is_current = True
        else:
            st.session_state.pop(CHECKED, None)
            return
    if not is_current:
        if checked is not None and checked["file_id"] == record["file_id"]:
            st.info("You changed a column: check the data again before saving.")
        return

    report: DataReport = checked["report"]
    st.subheader("2 · What we found", anchor=False)
    show_key_numbers(report)
    left, right = st.columns([3, 2], gap="large")
    with left:
        show_report(report)
    with right:
        show_suggestions(report)
    show_profile(checked["profile"], key="upload_profile")

    st.subheader("3 · Save it", anchor=False)
    with st.container(border=True):
        name = st.text_input("Dataset name", key="dataset_name", max_chars=80)
        if st.button("Save dataset", key="save_dataset", type="primary"):
            _save(upload, catalog_upload if catalog is not None else None, name, mapping,
                  creator if catalog is not None else None)


def _creator_choice(catalog, file_id: str) -> str:
    """The catalogue column saying who made each item ("" for none), detected by name, changeable."""
    columns = catalog.report.get("columns") or {}
    options = [NO_COLUMN] + [c for c in catalog.report.get("all_columns", [])
                             if c not in (columns.get("item_id"), columns.get("title"))]
    detected = columns.get("creator")
    value = st.selectbox(
        "Who made each item (optional)", options, index=options.index(detected) if detected in options else 0,
        key=f"catalog_creator_{file_id}",
        help="The artist, author, director, studio, publisher, brand or label column. Results then shows how "
             "much of the recommendations goes to the biggest of them.")
    return "" if value == NO_COLUMN else value


def _save(upload, catalog_upload, name: str, mapping: dict[str, str | None], creator: str | None = None) -> None:
    store = ui.get_store()
    known = set(ui.datasets()["id"].tolist())
    with ui.guard("saving the dataset") as outcome:
        with st.status("Saving the dataset…", expanded=False) as status:
            dataset_id = store.add_dataset(
                upload.getvalue(), name=name.strip() or None, columns=mapping,
                items=None if catalog_upload is None else catalog_upload.getvalue(), source_name=upload.name,
                creator_column=creator,
            )
            status.update(label="Saved", state="complete")
    if not outcome.ok:
        return
    saved_name = ui.dataset_summary(dataset_id)["name"]
    if dataset_id in known:
        saved_name = f"{saved_name} (this file was already saved, so the existing dataset is used)"
    st.session_state.setdefault(SAVED, {})[upload.file_id] = saved_name
    st.session_state.pop(CHECKED, None)
    ui.set_current_dataset(dataset_id)
    st.rerun()


# -- tab 3: manage ---------------------------------------------------------------------------------
def manage_tab() -> None:
    table = ui.datasets()
    if table.empty:
        st.info("No datasets saved yet.")
        return
    shown = table.assign(
        feedback=table["explicit"].map({True: "ratings", False: "interactions"}),
        added=table["created_at"].map(fmt.when),
        current=table["id"] == ui.current_dataset(),
    )[["current", "name", "source_name", "n_interactions", "n_users", "n_items", "density", "feedback",
       "has_catalog", "added"]]
    st.dataframe(
        shown, hide_index=True,
        column_config={
            "current": st.column_config.CheckboxColumn("Current", width="small"),
            "name": st.column_config.TextColumn("Name"),
            "source_name": st.column_config.TextColumn("File"),
            "n_interactions": st.column_config.NumberColumn("Interactions", format="localized"),
            "n_users": st.column_config.NumberColumn("People", format="localized"),
            "n_items": st.column_config.NumberColumn("Items", format="localized"),
            "density": st.column_config.NumberColumn("Filled", format="percent"),
            "feedback": st.column_config.TextColumn("Kind"),
            "has_catalog": st.column_config.CheckboxColumn("Catalogue"),
            "added": st.column_config.TextColumn("Added"),
        },
    )
    names = dict(zip(table["id"].astype(int), table["name"], strict=False))
    demo_ids = set(table.loc[table["is_demo"].astype(bool), "id"].astype(int))
    left, right = st.columns(2, gap="large")
    with left, st.container(border=True):
        st.markdown("**Rename**")
        target = st.selectbox("Dataset", list(names), format_func=names.get, key="rename_target")
        new_name = st.text_input("New name", key="rename_name", placeholder=names[target])
        if st.button("Rename", key="rename_dataset"):
            with ui.guard("renaming the dataset") as outcome:
                ui.get_store().rename_dataset(target, new_name)
            if outcome.ok:
                st.toast(f"Renamed to {new_name.strip()}")
                st.rerun()
    with right, st.container(border=True):
        st.markdown("**Delete**")
        deletable = [i for i in names if i not in demo_ids]
        if not deletable:
            st.caption("Only the demo is here, and it stays so there is always something to try.")
            return
        target = st.selectbox("Dataset", deletable, format_func=names.get, key="delete_target")
        runs = ui.get_store().list_runs(dataset_id=target)
        sure = st.checkbox(f"Yes, delete {names[target]} and its {fmt.plural(len(runs), 'trained model')}",
                           key="delete_confirm")
        if st.button("Delete", key="delete_dataset", disabled=not sure, type="primary"):
            with ui.guard("deleting the dataset") as outcome:
                ui.get_store().delete_dataset(target)
            if outcome.ok:
                if ui.current_dataset() == target:
                    ui.set_current_dataset(None)
                    state.start_session()
                st.session_state.pop("delete_confirm", None)
                st.toast(f"Deleted {names[target]}")
                st.rerun()


# -- the page ----------------------------------------------------------------------------------------
ui.page_header(
    "Your data",
    "Look at what people interacted with, add your own file, and keep your datasets tidy. "
    "Everything else in the studio works on the dataset chosen here.",
    kicker="Step 1 · Data",
)
overview, add, manage = st.tabs(["Look at a dataset", "Add your own", "Manage datasets"])
with overview, ui.guard("showing the dataset"):
    overview_tab()
with add, ui.guard("adding your file"):
    upload_tab()
with manage, ui.guard("listing your datasets"):
    manage_tab()
