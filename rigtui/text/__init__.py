"""Plain-text formatting shared by the dashboard and the headless commands (no Textual)."""
