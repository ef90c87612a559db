"""Metrics (Prometheus), traces (OpenTelemetry) and the alert hook's senders."""
