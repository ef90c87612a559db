"""`minibot init` and `minibot doctor`: the first run and the health check of a setup."""
