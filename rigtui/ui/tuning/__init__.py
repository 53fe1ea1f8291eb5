"""Measured workarounds over Textual internals, each with what it saves and how it was measured."""
