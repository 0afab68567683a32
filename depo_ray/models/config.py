"""The tiny CPU default policy's size (no torch: configs load without the training runtime)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TinyModelConfig:
    hidden_size: int = 256
    """Model width; heads are 64 wide, so this must be a multiple of 64."""
    num_layers: int = 4
    """Transformer blocks."""
    intermediate_size: int = 512
    """MLP width."""
    max_position_embeddings: int = 4096
    """Longest chat the model can read (a 20-turn BabyAI episode is ~2-3k tokens)."""
    seed: int = 0
    """Seed of the random initial weights."""

    def __post_init__(self):
        if self.hidden_size % 64:
            raise ValueError(f"hidden_size must be a multiple of 64 (head_dim 64 for vLLM CPU), got {self.hidden_size}")
