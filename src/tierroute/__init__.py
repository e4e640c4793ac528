"""tierroute: one OpenAI-compatible endpoint that sends each request to the cheapest model that will do it well."""

__version__ = "0.1.0"
