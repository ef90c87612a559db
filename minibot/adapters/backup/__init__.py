"""`minibot backup` and `minibot restore`: a consistent copy of every store, and its return."""
