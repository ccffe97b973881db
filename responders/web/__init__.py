"""HTTP for the validation services: transport-neutral exchange, ASGI and Lambda adapters."""
