"""Seeing a deployment run: Prometheus metrics, health checks, the live dashboard, structured logs."""
