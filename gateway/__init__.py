"""An OpenAI-compatible gateway that routes each request to the small, medium or large tier."""

__version__ = "0.1.0"
