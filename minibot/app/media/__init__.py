"""Media in and out of conversations: reading what people send, speaking answers."""
