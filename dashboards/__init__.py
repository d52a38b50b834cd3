"""Grafana dashboards as code: builder, dashboards, SQL checks, rollups and upload."""
