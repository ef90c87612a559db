"""Adapters of the task store port."""
