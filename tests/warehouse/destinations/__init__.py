"""Tests of where alerts and reports go: each destination against a real receiver."""
