"""Policy models: the tiny CPU default and loading of any Hugging Face model."""

from depo_ray.models.loading import load_model, load_tokenizer
from depo_ray.models.tiny import TinyModelConfig, build_tiny_policy

__all__ = ["TinyModelConfig", "build_tiny_policy", "load_model", "load_tokenizer"]
