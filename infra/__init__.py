"""certsight: infra."""
