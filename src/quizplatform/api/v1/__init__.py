"""Version 1 of the HTTP API."""

API_PREFIX = "/api/v1"
