"""What the service logged: event and exposure records, and the durable event store."""
