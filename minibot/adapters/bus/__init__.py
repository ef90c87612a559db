"""Bus adapters that cross processes (RabbitMQ)."""
