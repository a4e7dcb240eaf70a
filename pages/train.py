"""Train page (being built)."""

import ui

ui.page_header("Train models", "Pick a dataset, a way to test, and the models to compare.", kicker="Step 2")
