"""The commands: one module each, a ``run(settings, ...) -> int`` that ``cli.py`` calls.

The headless ones (snapshot, record, fit, bench) run without Textual, for scripts, cron and
quick looks over SSH; they open what they read through ``rigtui.sources``. Only ``dashboard``
imports ``rigtui.ui``.
"""
