"""Typed configuration: the schema and the loader."""
