"""The console channel: chat with minibot in a terminal or through a pipe."""
