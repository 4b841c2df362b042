"""The embedded model, run in this process by llama-cpp-python (imported only when a generation loads it)."""

from gateway.backends.llamacpp.backend import LlamaCppBackend
from gateway.backends.llamacpp.model import default_gguf

__all__ = ["LlamaCppBackend", "default_gguf"]
