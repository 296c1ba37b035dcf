"""Running the service: users and tokens, background jobs, idempotency keys and batch
runs over many communities."""
