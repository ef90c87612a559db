"""Channel adapters: the ways people reach minibot."""
