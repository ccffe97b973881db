"""certsight: ingest."""
