"""HTTP servers of the daemon's own (webhook receivers today)."""
