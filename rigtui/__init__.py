"""rigtui: a terminal dashboard for local-LLM GPU rigs."""

__version__ = "0.1.0"
