"""certsight: warehouse."""
