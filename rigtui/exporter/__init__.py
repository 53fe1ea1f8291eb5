"""rigtui's Prometheus exporter: the latest readings as metrics, served without touching the rig.

The metric names are a contract (``names.py``): the alert rules and the Grafana dashboard in
``contrib/`` and the Fleet tab (``rigtui.fleet``) read them.
"""
