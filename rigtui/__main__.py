"""``python -m rigtui``."""

from rigtui.cli import main

raise SystemExit(main())
