"""Web tools' I/O: fetching pages at checked addresses, HTML to text, search providers."""
