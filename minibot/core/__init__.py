"""The domain: entities, value objects, events and ports. No I/O lives here."""
