"""depo-ray: dual-efficiency preference optimization (DEPO) for LLM agents on Ray."""

__version__ = "0.1.0"
