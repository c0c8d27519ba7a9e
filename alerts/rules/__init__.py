"""Alert rule kinds, one module each, behind registry.py. See docs/alerting.md "Alert rules"."""
