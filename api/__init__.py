"""The HTTP API (FastAPI). So far: the customer's answer links for care offers."""
