"""Helpers of the end-to-end benchmark."""
