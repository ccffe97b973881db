"""certsight: dashboards."""
