"""Recommendations page (placeholder; the real page is part B of the dashboard issue)."""

import ui

ui.page_header("Recommendations", "What each person gets, and why (coming soon).")
