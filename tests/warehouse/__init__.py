"""Tests of the warehouse: models, detectors and alert delivery."""
