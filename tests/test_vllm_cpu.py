"""The tiny policy folder serves through vLLM and agrees with transformers on greedy decoding."""

import pytest
import torch

from depo_ray.models import load_model, load_tokenizer
from depo_ray.serving import EngineConfig, make_llm

pytestmark = pytest.mark.vllm


def test_vllm_generates_what_transformers_generates(tiny_model_dir):
    from vllm import SamplingParams

    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Mission: go to the red ball\nYou see:\n- red ball 1: 2 steps ahead"}],
        tokenize=False, add_generation_prompt=True,
    )
    llm = make_llm(str(tiny_model_dir), EngineConfig(max_model_len=1024, dtype="float32"))
    out = llm.generate([prompt], SamplingParams(max_tokens=8, temperature=0.0, ignore_eos=True))[0].outputs[0]
    assert len(out.token_ids) == 8

    model = load_model(str(tiny_model_dir))
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        reference = model.generate(ids, max_new_tokens=8, min_new_tokens=8, do_sample=False)[0, ids.shape[1]:]
    assert list(out.token_ids) == reference.tolist()
    assert out.text == tokenizer.decode(reference, skip_special_tokens=True)
