"""Build a vLLM engine for a policy folder or Hugging Face id, on CPU or GPU.

On CPU, vLLM reserves ``gpu_memory_utilization`` of the NUMA node's memory (despite the
name) and refuses to start when other processes hold more; the KV cache size is set in GiB
through ``VLLM_CPU_KVCACHE_SPACE`` instead. A tiny policy needs little of either.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

from depo_ray.serving.in_process import multiprocessing_off, start_in_process
from depo_ray.serving.swap import WORKER_EXTENSION

# torch and vLLM load on first use: serving.config, and so every config, imports this module.

CPU_ENGINES = ("in_process", "engine_process", "worker_process")


@dataclass(frozen=True)
class EngineConfig:
    max_model_len: int = 4096
    """Longest prompt plus generation, in tokens."""
    dtype: str = "auto"
    """Weights dtype for vLLM ("auto" keeps the checkpoint's; float32 or bfloat16 on CPU)."""
    seed: int = 0
    """Engine seed (sampling is reproducible for a fixed seed and batch)."""
    cpu_kv_cache_gib: int = 1
    """CPU only: KV cache size in whole GiB."""
    cpu_memory_fraction: float = 0.2
    """CPU only: share of the node's memory vLLM may claim at start-up."""
    gpu_memory_utilization: float = 0.85
    """GPU only: share of GPU memory for weights and KV cache."""
    tensor_parallel_size: int = 1
    """GPUs per engine."""
    cpu_engine: str = "in_process"
    """CPU only, PolicyServer engines: where vLLM's engine runs. "in_process": inside the
    server's own process, stepped by a thread (``serving/in_process.py``): no second process
    imports vLLM and torch, so a replica starts sooner. "engine_process": ``AsyncLLM``, with the
    model inside its engine-core process. "worker_process": ``AsyncLLM`` with vLLM's default,
    the model in a worker process of the engine core. Compared by benchmarks/engine_start.py."""
    enable_prefix_caching: bool = True
    """Reuse the KV cache of shared prompt prefixes: a search tree's requests share everything
    up to the branch point (vllm-cpu supports it on x86 and Arm; a worker sends all its
    trees' requests to the one replica it leased, which holds their prefixes)."""

    def __post_init__(self):
        if self.cpu_engine not in CPU_ENGINES:
            raise ValueError(f"cpu_engine must be one of {list(CPU_ENGINES)}, got {self.cpu_engine!r}")


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def make_llm(model: str, config: EngineConfig | None = None):
    """A ``vllm.LLM`` for ``model``. Call it under ``if __name__ == "__main__":`` or in a Ray
    actor: vLLM starts worker processes."""
    from vllm import LLM

    # Stats on, so the prefix-cache counters exist (the offline LLM turns them off by default).
    return LLM(**engine_arguments(model, config or EngineConfig()), disable_log_stats=False)


def start_engine(model: str, config: EngineConfig):
    """The PolicyServer's engine: ``AsyncLLM`` on GPU, on CPU as ``config.cpu_engine`` says
    ("engine_process": ``AsyncLLM`` built with vLLM's multiprocessing off, which puts the model
    in its engine-core process, since that process inherits the choice)."""
    arguments = engine_arguments(model, config)
    cpu_engine = None if on_gpu() else config.cpu_engine
    if cpu_engine == "in_process":
        return start_in_process(arguments)
    from vllm import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    with multiprocessing_off() if cpu_engine == "engine_process" else nullcontext():
        return AsyncLLM.from_engine_args(AsyncEngineArgs(**arguments))


def engine_arguments(model: str, config: EngineConfig) -> dict:
    """Keyword arguments shared by ``vllm.LLM`` and ``AsyncEngineArgs``; on CPU also sets the
    KV cache size, which vLLM reads from the environment only."""
    gpu = on_gpu()
    cpu_only = {}
    if not gpu:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(config.cpu_kv_cache_gib))
        # vLLM CPU 0.32 fails a request with its own sampling seed whenever a prompt is
        # prefilled in chunks ("CPU Generator does not use offset"): whole prompts only, with
        # a token budget that fits the longest (as vLLM itself does where it turns chunking off).
        cpu_only = dict(enable_chunked_prefill=False, max_num_batched_tokens=max(config.max_model_len, 4096))
    return dict(
        model=model,
        dtype=config.dtype,
        max_model_len=config.max_model_len,
        seed=config.seed,
        gpu_memory_utilization=config.gpu_memory_utilization if gpu else config.cpu_memory_fraction,
        tensor_parallel_size=config.tensor_parallel_size,
        enforce_eager=not gpu,
        enable_prefix_caching=config.enable_prefix_caching,
        worker_extension_cls=WORKER_EXTENSION,  # another policy's weights can be loaded (serving/swap.py)
        **cpu_only,
    )
