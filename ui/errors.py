"""Errors shown the way a person can act on them: never a traceback on the page.

``recsys`` raises errors already worded for the user (``DataError``, ``ModelError`` and any other
``ValueError`` defined in ``recsys``): those are shown as they are. Anything unexpected gets a friendly
sentence plus a collapsed "details" box for whoever maintains the studio.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st


def is_user_error(exc: BaseException) -> bool:
    """True for errors ``recsys`` words for the user (a ``ValueError`` defined inside ``recsys``)."""
    return isinstance(exc, ValueError) and type(exc).__module__.startswith("recsys")


@dataclass
class Outcome:
    """What happened inside :func:`guard`: ``ok`` is False once an error was shown."""

    ok: bool = True
    error: BaseException | None = None


def show_error(exc: BaseException, action: str) -> None:
    """Show ``exc`` as an ``st.error``: the library's own words for user errors, else a friendly note
    and the technical details folded away."""
    if is_user_error(exc):
        st.error(str(exc))
        return
    st.error(
        f"Something unexpected went wrong while {action}. Nothing was changed. "
        "Try again; if it keeps happening, open the details below and pass them on to whoever looks "
        "after this studio.",
    )
    with st.expander("Technical details"):
        st.code("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), language=None)


@contextmanager
def guard(action: str) -> Iterator[Outcome]:
    """Run a block and turn any exception into a readable ``st.error``.

    ``action`` completes the sentence "while ...", e.g. ``"reading your file"``. Streamlit's own
    control flow (reruns, page switches) passes through untouched (it is not an ``Exception``).

        with guard("saving the dataset") as outcome:
            store.save_dataset(...)
        if outcome.ok:
            st.success("Saved")
    """
    outcome = Outcome()
    try:
        yield outcome
    except Exception as exc:  # noqa: BLE001 - the point is that nothing reaches the page raw
        outcome.ok = False
        outcome.error = exc
        show_error(exc, action)
