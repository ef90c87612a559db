"""Media adapters: OpenAI-compatible audio and image endpoints, document text, kept files."""
