"""What happens in the daemon, as a stream of small events for the control plane."""
