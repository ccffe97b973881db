"""Constructs shared by the stacks or split out of them."""
