"""certsight: responders."""
