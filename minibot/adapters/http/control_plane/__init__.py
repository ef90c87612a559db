"""The control plane: an HTTP/WebSocket API, a live dashboard and a web chat inside the daemon.

Imported only when `[control_plane] enabled` is true: with it off, nothing here (nor
aiohttp's server) is loaded."""
