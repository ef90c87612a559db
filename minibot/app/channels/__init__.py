"""Channel-agnostic intake and delivery: what every channel shares but its platform."""
