"""Tools offered to the LLM: the registry and the tool sets."""
