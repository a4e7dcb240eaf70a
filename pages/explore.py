"""Explore page (placeholder; the real page is part B of the dashboard issue)."""

import ui

ui.page_header("Explore", "Similar items and maps of taste (coming soon).")
