"""Data: look at a dataset, add your own file, and manage what is saved."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

import ui
from recsys.data import DataReport, detect_columns, load_interactions, load_items, read_table
from recsys.file_checks import catalog_side_by_side, check_catalog, check_interactions
from recsys.profile import profile_frames
from recsys.reading import MAX_UPLOAD_BYTES
from recsys.split import PROTOCOL_DESCRIPTIONS
from ui import charts, state, words
from ui import format as fmt

ui.through_app()  # before anything else: a page run on its own reruns through app.py (ui/navigation.py)

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
def show_key_numbers(report: DataReport, nouns=None) -> None:
    nouns = nouns or ui.nouns()
    cols = st.columns(4)
    cols[0].metric(nouns.events.capitalize(), fmt.count(report.n_interactions), border=True)
    cols[1].metric(nouns.people.capitalize(), fmt.count(report.n_users), border=True)
    cols[2].metric(nouns.items.capitalize(), fmt.count(report.n_items), border=True)
    cols[3].metric("Filled", fmt.percent(report.density, 2), border=True,
                   help=f"Share of all {nouns.person}-{nouns.item} pairs that have a {nouns.event} (density).")


def _bold_label(line: str) -> str:
    label, sep, rest = line.partition(": ")
    return f"- **{label}:** {rest}" if sep and len(label) < 25 else f"- {line}"


def show_report(report: DataReport, nouns=None) -> None:
    """The report in plain language, in the data's own words: one bullet per fact, then warnings, then how
    the file was read."""
    nouns = nouns or ui.nouns()
    lines = words.in_words(report.to_text(), nouns).splitlines()
    facts = []
    for line in lines[1:]:
        if line.startswith(("Suggested", "How the file", "Warnings", "  - ")):
            break
        facts.append(line)
    st.markdown("\n".join(_bold_label(line) for line in facts))
    for warning in report.warnings:
        st.warning(words.in_words(warning, nouns))
    if report.detected:
        with st.expander("How the file was read"):
            st.markdown("\n".join(f"- {note}" for note in report.detected))


def show_suggestions(report: DataReport, nouns=None) -> None:
    """The suggested way to test and the model shortlist, with reasons, in the data's words."""
    nouns = nouns or ui.nouns()
    with st.container(border=True):
        st.markdown("**Suggested way to test**")
        st.markdown(words.in_words(f"**{words.protocol_label(report.suggested_split)}.** "
                                   f"{PROTOCOL_DESCRIPTIONS.get(report.suggested_split, '')}", nouns))
        if report.split_reason:
            st.caption(words.in_words(report.split_reason, nouns))
        if report.suggested_models:
            st.markdown("**Models worth trying**")
            st.markdown("\n".join(f"- **{words.model_label(m['model'])}**: {m['reason']}"
                                  for m in report.suggested_models))


def _count_bars(frame, title: str, x: str, y: str, color: str, events: str = "interactions") -> go.Figure:
    fig = go.Figure(go.Bar(
        x=frame["label"], y=frame["entities"], marker_color=color,
        customdata=frame["share"] * 100,
        hovertemplate="%{x} " + events + ": %{y:,} (%{customdata:.1f}%)<extra></extra>",
    ))
    fig.update_yaxes(type="log", dtick=1, tickformat=",")
    fig.update_xaxes(type="category")
    return charts.style(fig, title, x=x, y=y, height=330)


def show_profile(profile: dict, key: str, nouns=None) -> None:
    """The four profile charts, in the data's own words: activity per person, popularity per item,
    values, activity over time."""
    n = nouns or ui.nouns()
    medians = profile["medians"]
    left, right = st.columns(2)
    with left:
        charts.show(_count_bars(profile["users"], f"How active are {n.people}?",
                                f"{n.events.capitalize()} per {n.person} (grouped, log scale)",
                                f"{n.people.capitalize()} (log scale)", charts.PALETTE[1], n.events),
                    key=f"{key}_users")
        st.caption(f"Half of the {n.people} have at most {fmt.count(medians['per_user'])} {n.events}.")
    with right:
        charts.show(_count_bars(profile["items"], f"How popular are {n.items}? (the long tail)",
                                f"{n.events.capitalize()} per {n.item} (grouped, log scale)",
                                f"{n.items.capitalize()} (log scale)", charts.ACCENT, n.events), key=f"{key}_items")
        st.caption(f"The popular {n.items} (the top {profile['head_percent']}% by {n.events}) receive "
                   f"{fmt.percent(profile['head_share'], 0)} of all {n.events}; half of the {n.items} have at most "
                   f"{fmt.count(medians['per_item'])}.")
    left, right = st.columns(2)
    with left:
        values = profile["values"]
        if values is None:
            st.info(f"No ratings or counts in this data: every {n.event} counts the same.")
        else:
            label = n.value_label if n.value else ("Rating" if profile["value_kind"] == "rating" else "Weight")
            fig = go.Figure(go.Bar(
                x=values["label"], y=values["interactions"], marker_color=charts.PALETTE[2],
                customdata=values["share"] * 100,
                hovertemplate="%{x} " + label.lower() + ": %{y:,} " + n.events + " (%{customdata:.1f}%)<extra></extra>",
            ))
            fig.update_xaxes(type="category")
            charts.show(charts.style(fig, f"How are {label.lower()} spread?", label, n.events.capitalize(),
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
                hovertemplate="%{x|%d %b %Y}: %{y:,} " + n.events + " by %{customdata:,} " + n.people + "<extra></extra>",
            ))
            charts.show(charts.style(fig, "Activity over time", f"{period.capitalize()}",
                                     f"{n.events.capitalize()} per {period}", height=330), key=f"{key}_time")


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
    nouns = ui.nouns(dataset_id)
    show_key_numbers(report, nouns)
    st.subheader("What is in it", anchor=False)
    left, right = st.columns([3, 2], gap="large")
    with left:
        show_report(report, nouns)
        words_editor(dataset_id, nouns)
    with right:
        show_suggestions(report, nouns)
        st.page_link(ui.navigation.path("train.py"), label="Train models on this dataset →")
    st.subheader("Profile", anchor=False)
    with ui.guard("drawing the profile charts"):
        show_profile(state.profile(dataset_id), key=f"profile_{dataset_id}", nouns=nouns)


WORD_FIELDS = {
    # field: (label, help)
    "item": ("One item is a…", "What people interact with: artist, track, movie, book, product, ad…"),
    "person": ("One person is a…", "Who interacts: listener, viewer, reader, customer, visitor…"),
    "event": ("One row is a…", "What each row records: play, rating, purchase, click…"),
    "did": ("What people did, in the past tense", "Read in 'what they played', 'what they bought'…"),
    "value": ("The numbers count…", "What the value column holds, in the plural: plays, stars, clicks. Empty "
              "when rows carry no number."),
}


def words_editor(dataset_id: int, nouns) -> None:
    """Let the user say what this dataset's things are called; stored with the dataset."""
    with st.expander(f"Words for this data: {nouns.items}, {nouns.people}, {nouns.events}"):
        st.caption("Every page uses these words. They were guessed from the column and file names; change any "
                   "that is wrong.")
        cols = st.columns(len(WORD_FIELDS))
        chosen = {}
        for col, (name, (label, help_text)) in zip(cols, WORD_FIELDS.items(), strict=True):
            chosen[name] = col.text_input(label, value=getattr(nouns, name), key=f"words_{name}_{dataset_id}",
                                          help=help_text, max_chars=40).strip()
        left, right = st.columns(2)
        if left.button("Use these words", key=f"words_save_{dataset_id}", type="primary"):
            with ui.guard("saving the words"):
                mine = {k: v for k, v in chosen.items() if v or k == "value"}
                ui.get_store().set_dataset_nouns(dataset_id, mine)
                st.rerun()
        if right.button("Guess them again", key=f"words_reset_{dataset_id}"):
            with ui.guard("forgetting the words"):
                ui.get_store().set_dataset_nouns(dataset_id, None)
                for name in WORD_FIELDS:
                    st.session_state.pop(f"words_{name}_{dataset_id}", None)
                st.rerun()


# -- tab 2: upload ---------------------------------------------------------------------------------
def _read_upload(upload) -> dict:
    """Read the uploaded interactions once per file (kept in the session) and detect its columns."""
    cached = st.session_state.get(UPLOAD)
    if cached and cached["file_id"] == upload.file_id:
        return cached
    record = {"file_id": upload.file_id, "name": upload.name, "size": upload.size, "frame": None, "error": None}
    try:
        with st.status(f"Reading {upload.name} ({fmt.size(upload.size)})…", expanded=False) as status:
            frame = _read_or_say_why(status, upload, lambda source: read_table(source, max_rows=PREVIEW_ROWS))
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


def _read_or_say_why(status, upload, read):
    """``read(upload)``; when it fails, the status line says so (it never stays on "Reading…")."""
    return _or_say_why(status, f"Could not read {upload.name}: the reason is below", read, upload)


def _or_say_why(status, failed: str, step, *args):
    """``step(*args)`` inside an ``st.status``; when it fails the status shows ``failed`` as an error
    (a status line never stays on "Reading…" or "Checking…" after an error), then the error goes on."""
    try:
        return step(*args)
    except Exception:
        status.update(label=failed, state="error")
        raise


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
        if catalog is not None:
            attach_catalog_flow(ui.current_dataset(), catalog_upload, catalog)
        else:
            st.info("No file yet. Try the demo on the first tab, or drop your own file above.")
        return
    if upload.file_id in st.session_state.get(SAVED, {}):
        st.success(f"Saved as **{st.session_state[SAVED][upload.file_id]}**. It is now the current dataset. "
                   "Upload another file to add more.")
        st.page_link(ui.navigation.path("train.py"), label="Train models on it →")
        return
    record = _read_upload(upload)
    if record["error"] is not None:
        ui.show_error(record["error"], "reading your file")
        return
    frame = record["frame"]

    st.subheader("1 · Confirm the columns", anchor=False)
    st.caption("We guessed which column is which. Change any guess that is wrong.")
    mapping = _chosen_columns(frame)
    st.dataframe(frame.head(8), hide_index=True, height=240, width="stretch",
                 column_config={str(c): st.column_config.Column(str(c), width="small") for c in frame.columns})
    checked = st.session_state.get(CHECKED)
    is_current = checked is not None and checked["file_id"] == record["file_id"] and checked["columns"] == mapping
    if st.button("Check the data", key="check_data", type="secondary" if is_current else "primary"):
        with ui.guard("checking your data") as outcome:
            with st.status(f"Checking every row of {upload.name}…", expanded=False) as status:
                inter = _or_say_why(status, f"Could not check {upload.name}: the reason is below",
                                    load_interactions, upload, mapping)
                status.update(label="Profiling…")
                profile = profile_frames(inter)
                status.update(label=f"Checked {fmt.count(inter.report.rows_read)} rows", state="complete")
        if outcome.ok:
            checked = {"file_id": record["file_id"], "columns": mapping, "report": inter.report, "profile": profile,
                       **_verdicts(upload, mapping, inter, catalog)}
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
    if checked.get("saved_as") is not None:
        already_saved(checked["saved_as"], catalog_upload, catalog)
        return
    show_file_check(checked["file_check"])
    show_key_numbers(report, checked["nouns"])
    left, right = st.columns([3, 2], gap="large")
    with left:
        show_report(report, checked["nouns"])
    with right:
        show_suggestions(report, checked["nouns"])
    show_profile(checked["profile"], key="upload_profile", nouns=checked["nouns"])
    catalog_check = checked.get("catalog_check")
    if catalog is not None and catalog_check is not None and checked.get("catalog_id") == catalog_upload.file_id:
        show_catalog_check(catalog_check, checked["side_by_side"], catalog, checked["nouns"])

    st.subheader("3 · Save it", anchor=False)
    with st.container(border=True):
        name = st.text_input("Dataset name", key="dataset_name", max_chars=80)
        confirmed = save_confirmations(checked, catalog is not None)
        if st.button("Save dataset", key="save_dataset", type="primary", disabled=not confirmed):
            _save(upload, catalog_upload if catalog is not None else None, name, mapping,
                  creator if catalog is not None else None)
        if not confirmed:
            st.caption("Saving needs the choice above: the checks found something that looks wrong.")


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
                items_name=None if catalog_upload is None else catalog_upload.name, creator_column=creator,
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


# -- checks before saving: a file that is not interactions, a catalogue that does not fit -------------
def _verdicts(upload, mapping: dict, inter, catalog) -> dict:
    """What the checks say of a checked upload: the file check, the catalogue check (when one was given),
    the words detected for it, and the dataset these bytes were already saved as (None when new)."""
    from recsys.nouns import detect_nouns

    report = inter.report
    nouns = detect_nouns(mapping, names=[upload.name], explicit=bool(inter.explicit),
                         rating_max=(report.rating_scale or {}).get("max") if report is not None else None,
                         has_values=inter.values is not None)
    out = {"nouns": nouns, "file_check": check_interactions(inter, mapping, nouns), "catalog_check": None,
           "saved_as": ui.get_store().registered_dataset(upload.getvalue(), mapping, upload.name)}
    catalog_upload = st.session_state.get("upload_catalog")
    if catalog is not None and catalog_upload is not None:
        out.update(catalog_check=check_catalog(catalog, inter, nouns), catalog_id=catalog_upload.file_id,
                   side_by_side=catalog_side_by_side(catalog, inter))
    return out


def show_file_check(check) -> None:
    """A file that does not look like interactions: what it looks like, the signs, what to upload instead."""
    if check.ok:
        return
    st.error(
        f"**This does not look like interactions: it looks like {check.looks_like}.**\n\n"
        + "\n".join(f"- {problem}" for problem in check.problems)
        + (f"\n\n{check.advice}" if check.advice else ""),
        icon="🛑",
    )


def show_catalog_check(check, side_by_side, catalog, nouns) -> None:
    """A catalogue that does not fit the data, shown beside it: the data's most interacted items next to
    the titles this catalogue would give them."""
    if check.ok:
        return
    st.warning(
        "**This catalogue may not describe these "
        f"{nouns.items}.**\n\n" + "\n".join(f"- {problem}" for problem in check.problems)
        + (f"\n\n{check.advice}" if check.advice else ""),
        icon="⚠️",
    )
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown(f"**The data's most {nouns.did} {nouns.items}, as the catalogue would name them**")
        st.dataframe(side_by_side, hide_index=True, width="stretch", column_config={
            "item_id": st.column_config.TextColumn(f"{nouns.item.capitalize()} id", width="small"),
            "interactions": st.column_config.NumberColumn(nouns.events.capitalize(), format="localized",
                                                          width="small"),
            "title": st.column_config.TextColumn("Title in the catalogue", width="medium",
                                                 help="Empty: the catalogue has no entry for this id."),
            "genres": st.column_config.TextColumn("Genres or tags", width="medium"),
        }, column_order=["item_id", "interactions", "title"] + (
            ["genres"] if (side_by_side["genres"] != "").any() else []))
    with right:
        st.markdown("**The catalogue's first rows**")
        head = catalog.frame.head(len(side_by_side))[["item_id", "title"]]
        st.dataframe(head, hide_index=True, width="stretch", column_config={
            "item_id": st.column_config.TextColumn("Id", width="small"),
            "title": st.column_config.TextColumn("Title", width="large"),
        })


def save_confirmations(checked: dict, with_catalog: bool) -> bool:
    """The explicit choices saving needs when a check failed; True once every one is made."""
    confirmed = True
    if not checked["file_check"].ok:
        confirmed &= st.checkbox(
            "Save it anyway: this file really has one row per person and item", key="confirm_not_interactions",
            help="Models learn from people who appear on several rows; with one row each, nothing can be tested.")
    check = checked.get("catalog_check")
    if with_catalog and check is not None and not check.ok:
        confirmed &= st.checkbox("Use this catalogue anyway: its titles are right for these items",
                                 key="confirm_catalog")
    return confirmed


def already_saved(dataset_id: int, catalog_upload, catalog) -> None:
    """These bytes with these columns were saved before: open that dataset, or attach the catalogue."""
    summary = ui.dataset_summary(dataset_id)
    st.info(f"This file is already saved as **{summary['name']}**, with these columns.")
    if catalog is None:
        if st.button(f"Work on {summary['name']}", key="open_saved", type="primary"):
            ui.set_current_dataset(dataset_id)
            st.rerun()
        return
    attach_catalog_flow(dataset_id, catalog_upload, catalog)


def attach_catalog_flow(dataset_id: int | None, catalog_upload, catalog) -> None:
    """Attach a catalogue to a saved dataset: checked against its data and shown beside it first; one the
    dataset already has is replaced only when the user says so."""
    if dataset_id is None:
        st.info("Save an interactions file first: a catalogue describes the items of a dataset.")
        return
    summary = ui.dataset_summary(dataset_id)
    nouns = ui.nouns(dataset_id)
    st.markdown(f"**Add this catalogue to {summary['name']}**")
    inter, _ = ui.load_dataset(dataset_id)
    check = check_catalog(catalog, inter, nouns)
    show_catalog_check(check, catalog_side_by_side(catalog, inter), catalog, nouns)
    if check.ok:
        st.dataframe(catalog_side_by_side(catalog, inter), hide_index=True, column_config={
            "item_id": st.column_config.TextColumn(f"{nouns.item.capitalize()} id", width="small"),
            "interactions": st.column_config.NumberColumn(nouns.events.capitalize(), format="localized"),
            "title": st.column_config.TextColumn("Title in the catalogue", width="large"),
            "genres": st.column_config.TextColumn("Genres or tags", width="medium"),
        })
    ok = check.ok or st.checkbox("Use this catalogue anyway: its titles are right for these items",
                                 key="confirm_catalog_attach")
    replace = True
    if summary["has_catalog"]:
        replace = st.checkbox(f"Replace the catalogue {summary['name']} has now", key="confirm_catalog_replace",
                              help="Titles, genres and pictures come from the new file from then on; trained models "
                                   "are kept.")
    if st.button(f"Attach it to {summary['name']}", key="attach_catalog", type="primary", disabled=not (ok and replace)):
        with ui.guard("attaching the catalogue") as outcome:
            creator = st.session_state.get(f"catalog_creator_{catalog_upload.file_id}")
            changed = ui.get_store().attach_catalog(
                dataset_id, catalog_upload.getvalue(), replace=replace, source_name=catalog_upload.name,
                creator_column=None if creator is None else ("" if creator == NO_COLUMN else creator))
        if outcome.ok:
            ui.set_current_dataset(dataset_id)
            st.session_state.pop(CHECKED, None)
            st.toast("Catalogue attached." if changed else "That catalogue was already attached.")
            st.rerun()


# -- tab 3: manage ---------------------------------------------------------------------------------
def manage_tab() -> None:
    table = ui.datasets()
    if table.empty:
        st.info("No datasets saved yet.")
        return
    shown = table.assign(
        added=table["created_at"].map(fmt.when),
        current=table["id"] == ui.current_dataset(),
    )[["current", "name", "source_name", "n_interactions", "n_users", "n_items", "density", "has_catalog", "added"]]
    st.dataframe(  # the columns fit a 1280 px window; each dataset's own words are on its first tab
        shown, hide_index=True, width="stretch",
        column_config={
            "current": st.column_config.CheckboxColumn("Current", width=60),
            "name": st.column_config.TextColumn("Name", width=160),
            "source_name": st.column_config.TextColumn("File", width=130),
            "n_interactions": st.column_config.NumberColumn("Rows", format="localized", width=90,
                                                            help="Interactions: plays, ratings, purchases…"),
            "n_users": st.column_config.NumberColumn("People", format="localized", width=80),
            "n_items": st.column_config.NumberColumn("Items", format="localized", width=80),
            "density": st.column_config.NumberColumn("Filled", format="percent", width=64),
            "has_catalog": st.column_config.CheckboxColumn("Catalogue", width=80),
            "added": st.column_config.TextColumn("Added", width=130),
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
