"""Sandboxed code execution for `run_code`."""
