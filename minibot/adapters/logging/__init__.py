"""Structured logging: logfmt or JSON, correlation ids, secret redaction."""
