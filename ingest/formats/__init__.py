"""Readers of RAW formats: each turns one object into LAKE rows and quarantine rows."""
