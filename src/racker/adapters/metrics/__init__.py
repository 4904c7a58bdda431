"""Prometheus metrics: `rack` defines racker's metrics over plain figures (`RackFigures`) that
the use cases compute; `expose` renders them in the exposition format with prometheus-client."""
