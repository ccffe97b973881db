"""certsight: certsight."""
