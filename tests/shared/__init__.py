"""Tests of the small shared helpers."""
