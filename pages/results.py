"""Results page (placeholder; the real page is part B of the dashboard issue)."""

import ui

ui.page_header("Results", "Leaderboard of trained models (coming soon).")
