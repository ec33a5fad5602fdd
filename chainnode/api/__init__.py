"""The node's HTTP API: aiohttp routes, pydantic models, the OpenAPI document."""
