"""Data page (being built)."""

import ui

ui.page_header("Your data", "Upload interactions, check them, and save them as a dataset.", kicker="Step 1")
