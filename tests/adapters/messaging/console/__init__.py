"""Tests of the console channel."""
