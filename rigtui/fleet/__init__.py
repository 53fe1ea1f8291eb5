"""The fleet: every rig a Prometheus server scrapes with rigtui's metrics, read from its HTTP API.

No server of rigtui's own: Prometheus scrapes, stores and alerts; this reads what it holds.
"""
