"""Workflows: named steps run on demand or on a schedule, each under its permission."""
