"""Tests of the warehouse: models, detectors, alert delivery and its destinations."""
