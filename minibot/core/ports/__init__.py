"""Ports: the promises the application needs from the edge, as typing.Protocols."""
