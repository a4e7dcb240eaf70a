"""The Results page's exposure view and its report downloads (layout only: the figures come from
``recsys.exposure``, the report from ``recsys.report``).

The report is built only when a download button is clicked (Streamlit's deferred downloads), outside
the page's run, so it never holds up the page; the last few reports are kept in memory, so the HTML and
the PDF of the same runs are built once.
"""

from __future__ import annotations

import functools
from typing import Any

import streamlit as st

from recsys import exposure, figures
from recsys.popularity_bands import HEAD_PERCENT, HITS_PERCENT
from ui import charts
from ui.errors import guard
from ui.state import _home, get_store, load_dataset


@st.cache_data(show_spinner="Counting who gets exposure…", max_entries=16)
def _exposure(home: str, dataset_id: int, pairs: tuple[tuple[int, str], ...], stamps: tuple[Any, ...]):
    data = load_dataset(dataset_id)
    table = exposure.exposure_table(get_store(), dataset_id, list(pairs), data=data)
    return table, exposure.creator_noun(data[1])


def show_exposure(dataset_id: int, run_ids: list[int], labels: dict[int, str], stamps: tuple[Any, ...]) -> None:
    """Who gets exposure: items and, when the catalogue names them, creators (the report's numbers)."""
    st.subheader("Who gets exposure", anchor=False)
    with guard("counting who gets exposure"):
        pairs = tuple((int(r), str(labels[int(r)])) for r in run_ids)
        table, noun = _exposure(_home(), int(dataset_id), pairs, stamps)
        k = int(table["k"].dropna().iloc[0]) if table["k"].notna().any() else 10
        st.caption(
            f"Where the {k} slots of every person's list go: to the biggest hits (top {HITS_PERCENT}% of items by "
            f"interactions), to popular items (top {HEAD_PERCENT}%), or further into the long tail. Gini of "
            "exposure: 0 when every item is shown equally often, near 1 when a few get every slot. Popularity "
            "and the data itself (every interaction counted as a slot) are the references."
        )
        shown = exposure.exposure_display(table, noun)
        st.dataframe(shown, hide_index=True, width="stretch", column_config={  # fits a 1280 px window
            name: st.column_config.TextColumn(name, width=170 if name == "Model" else (150 if "shown" in name else 110))
            for name in shown.columns
        })
        st.markdown("\n".join(f"- {line}" for line in exposure.exposure_sentences(table, noun)))
        has_creators = bool(table["top_creators_data_share"].notna().any())
        left, right = st.columns(2) if has_creators else (st.container(), None)
        with left:
            charts.show(figures.exposure_items(table), key="results_exposure_items")
        if right is not None:
            with right:
                charts.show(figures.exposure_creators(table, noun), key="results_exposure_creators")


@functools.lru_cache(maxsize=4)
def _report_html(home: str, dataset_id: int, run_ids: tuple[int, ...], stamps: tuple[Any, ...]) -> str:
    from recsys.report import build_report
    from recsys.store import Store

    return build_report(Store(home or None), dataset_id, run_ids=list(run_ids)).html


@functools.lru_cache(maxsize=2)
def _report_pdf(home: str, dataset_id: int, run_ids: tuple[int, ...], stamps: tuple[Any, ...]) -> bytes:
    from recsys.report import print_pdf

    return print_pdf(_report_html(home, dataset_id, run_ids, stamps))


def report_downloads(dataset_id: int, run_ids: list[int], stamps: tuple[Any, ...], name: str) -> None:
    """"Download report" (one HTML file) and "Download PDF" (the same, printed by headless Chromium when
    the machine has it; otherwise a disabled button and why)."""
    from recsys.report import pdf_available

    st.subheader("Share the results", anchor=False)
    st.caption("One file for people who were not in the room: the data, this leaderboard, training curves, "
               "example people, more like this, exposure and methods. It opens offline in any browser; people "
               "appear under pseudonyms and the raw data file is never included.")
    key = (_home(), int(dataset_id), tuple(int(r) for r in run_ids), tuple(stamps))
    stem = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "dataset"
    left, right = st.columns(2)
    left.download_button(
        "Download report (HTML)", data=lambda: _report_html(*key).encode("utf-8"),
        file_name=f"tastemaker-report-{stem}.html", mime="text/html", key="results_report_html",
        on_click="ignore", width="stretch",
    )
    ok, why = pdf_available()
    if ok:
        right.download_button(
            "Download PDF", data=lambda: _report_pdf(*key), file_name=f"tastemaker-report-{stem}.pdf",
            mime="application/pdf", key="results_report_pdf", on_click="ignore", width="stretch",
        )
    else:
        right.button("Download PDF", disabled=True, key="results_report_pdf_off", width="stretch",
                     help=why)
        right.caption(f"HTML only: {why}")
