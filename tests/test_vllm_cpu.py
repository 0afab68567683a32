"""The tiny policy folder serves through vLLM, agrees with transformers on greedy decoding, and
samples reproducibly with per-request seeds."""

import asyncio

import pytest
import torch

from depo_ray.models.loading import load_model, load_tokenizer
from depo_ray.serving import EngineConfig, make_llm

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    """One PolicyServer engine for the tests that need only the tiny policy served (an engine
    start costs seconds), with the one event loop its requests are awaited on. It starts in a
    process that has loaded llvmlite, as one that ran WebShop's search (bm25s, numba) has:
    vLLM's start-up scan of every module failed on it (``in_process.llvmlite_hidden``)."""
    import llvmlite.binding  # noqa: F401

    from depo_ray.serving.server import PolicyServer

    loop = asyncio.new_event_loop()

    async def start():
        return PolicyServer(str(tiny_model_dir), EngineConfig(max_model_len=1024, dtype="float32"))

    server = loop.run_until_complete(start())
    try:
        yield server, loop.run_until_complete
    finally:
        server.engine.shutdown()
        loop.close()


def test_vllm_decodes_a_spacing_tokenizer_as_the_tokenizer_does(tmp_path):
    """WebShop's tiny model: tokens carry their leading space, so vLLM's incremental
    detokenizer must give exactly the tokenizer's decode, spaces and punctuation included.
    First in the module: a ``vllm.LLM`` tears down the process's parallel groups when it goes,
    which the in-process engine of the module's PolicyServer (``served``) runs on."""
    from vllm import SamplingParams

    from depo_ray.models.tiny import build_tiny_policy
    from depo_ray.models.config import TinyModelConfig

    words = {"thought", "action", "search", "click", "x", "large", "buy", "now", "3", "4", "fl", "oz"}
    folder = build_tiny_policy(words, tmp_path / "policy", TinyModelConfig(hidden_size=64, num_layers=1, intermediate_size=128,
                                                                          max_position_embeddings=1024), keep_spacing=True)
    tokenizer = load_tokenizer(str(folder))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "click[x-large] then buy now"}], tokenize=False,
                                           add_generation_prompt=True)
    llm = make_llm(str(folder), EngineConfig(max_model_len=1024, dtype="float32"))
    # random weights: a random mix of spaced and bare words, punctuation and whitespace runs
    outputs = llm.generate([prompt], SamplingParams(n=4, max_tokens=48, temperature=1.0, seed=0, ignore_eos=True))[0].outputs
    for out in outputs:
        assert len(out.token_ids) == 48
        assert out.text == tokenizer.decode(out.token_ids, skip_special_tokens=True)
    assert any(" " in out.text for out in outputs)


def test_vllm_generates_what_transformers_generates(tiny_model_dir, served):
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    server, run = served
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Mission: go to the red ball\nYou see:\n- red ball 1: 2 steps ahead"}],
        tokenize=False, add_generation_prompt=True,
    )
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]

    async def greedy():
        params = SamplingParams(max_tokens=8, temperature=0.0, ignore_eos=True, output_kind=RequestOutputKind.FINAL_ONLY)
        async for output in server.engine.generate({"prompt_token_ids": ids}, params, request_id="greedy"):
            final = output
        return final.outputs[0]

    out = run(greedy())
    assert len(out.token_ids) == 8

    model = load_model(str(tiny_model_dir))
    with torch.no_grad():
        reference = model.generate(torch.tensor([ids]), max_new_tokens=8, min_new_tokens=8, do_sample=False)[0, len(ids):]
    assert list(out.token_ids) == reference.tolist()
    assert out.text == tokenizer.decode(reference, skip_special_tokens=True)


def test_seeded_requests_sample_the_same_in_any_batch_even_with_long_prompts_arriving_together(served):
    """A PolicyServer's requests with their own seeds give the same samples whatever else is in
    the batch. Long prompts arriving together used to be prefilled in chunks, which vLLM CPU
    cannot do for a seeded request (the engine died: "CPU Generator does not use offset")."""
    from depo_ray.serving.server import Sampling

    server, run = served

    colours = ["red", "blue", "green", "grey", "purple", "yellow", "red", "blue"]
    chats = [[{"role": "user", "content": f"Mission: go to the {c} ball\n" + "You see: a wall 1 step left\n" * (60 + 5 * i)}]
             for i, c in enumerate(colours)]

    async def sample(server, order):
        # seeds far apart: vLLM samples a request's n answers with seeds seed, seed + 1, ...
        order = list(order)
        answers = await asyncio.gather(*(server.generate(chats[i], 2, Sampling(temperature=1.0, max_tokens=16, seed=1000 * i))
                                         for i in order))
        return {i: [g.text for g in generations] for i, generations in zip(order, answers)}

    forward, backward, subset = (run(sample(server, range(len(chats)))), run(sample(server, reversed(range(len(chats))))),
                                 run(sample(server, [5, 2])))
    assert backward == forward and subset == {i: forward[i] for i in (5, 2)}
    assert len({text for texts in forward.values() for text in texts}) > len(chats)  # still sampling


def test_the_servers_answers_are_the_text_vllm_would_have_detokenized(served):
    """The server asks vLLM for token ids only and decodes each finished answer once: the text
    must be what vLLM's own incremental detokenizer gives for the same seeded samples."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    from depo_ray.serving.server import Sampling
    from depo_ray.tokens import prompt_ids

    server, run = served
    chat = [{"role": "user", "content": "Mission: pick up the blue key\nYou see:\n- blue key 1: 3 steps left"}]
    ids = prompt_ids(server.tokenizer, chat)

    async def detokenized_by_vllm():
        params = SamplingParams(n=4, temperature=1.0, max_tokens=24, seed=7, output_kind=RequestOutputKind.FINAL_ONLY)
        async for output in server.engine.generate({"prompt_token_ids": ids}, params, request_id="detokenized"):
            final = output
        return [c.text.strip() for c in final.outputs]

    ours = [g.text for g in run(server.generate(chat, 4, Sampling(temperature=1.0, max_tokens=24, seed=7)))]
    assert ours == run(detokenized_by_vllm())
    assert len(set(ours)) > 1 and all(ours)  # sampled, not empty


def test_a_chat_longer_than_the_context_gets_an_empty_turn_instead_of_an_error(tiny_model_dir, served):
    from depo_ray.serving.server import Sampling
    from depo_ray.tokens import prompt_ids

    server, run = served
    limit = server.max_model_len
    tokenizer = load_tokenizer(str(tiny_model_dir))
    turn = [{"role": "user", "content": "you see a red ball 1 2 steps ahead"}, {"role": "assistant", "content": "Action: go to red ball 1"}]
    chat = [{"role": "system", "content": "play"}]
    while len(prompt_ids(tokenizer, chat + turn * 2)) < limit - 6:
        chat += turn
    chat += turn[:1]  # a few tokens left of the context
    room = limit - len(prompt_ids(tokenizer, chat))
    sampling = Sampling(temperature=1.0, max_tokens=64, seed=0)

    async def ask():
        before = server.context_full
        return (await server.generate(chat, 1, sampling), await server.generate(chat + turn * 3, 2, sampling),
                server.context_full - before)

    (cut,), full, counted = run(ask())
    assert 0 < room < 64 and 0 < cut.completion_tokens <= room and not cut.context_full
    assert [(g.text, g.completion_tokens, g.context_full) for g in full] == [("", 0, True)] * 2 and counted == 1


def test_an_engine_that_loads_another_policys_weights_answers_as_that_policy(tiny_model_dir, served, tmp_path):
    """The evaluate stage loads each policy into the running engines (serving/swap.py)
    instead of starting an engine per policy. With the tiny policy's tied embeddings, vLLM's
    own reload alone left the LM head's packed copy stale: answers then matched neither policy."""
    import shutil

    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    from depo_ray.serving.swap import shares_engine
    from depo_ray.tokens import prompt_ids

    server, run = served
    other, saved = tmp_path / "other", tmp_path / "saved"
    shutil.copytree(tiny_model_dir, other)
    model = load_model(str(tiny_model_dir))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.3)  # clear argmax margins
    model.save_pretrained(saved)
    shutil.copy(saved / "model.safetensors", other / "model.safetensors")
    assert shares_engine(tiny_model_dir, other)
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": f"Mission: go to the red ball\nYou see: key {n}"}])
               for n in range(4)]

    async def greedy(ids, n):
        params = SamplingParams(max_tokens=12, temperature=0.0, ignore_eos=True, output_kind=RequestOutputKind.FINAL_ONLY)
        async for output in server.engine.generate({"prompt_token_ids": ids}, params, request_id=f"swap-{n}"):
            final = output
        return list(final.outputs[0].token_ids)

    def answers(tag):
        return [run(greedy(ids, f"{tag}-{n}")) for n, ids in enumerate(prompts)]

    def transformers_answers(policy):
        with torch.no_grad():
            return [policy.generate(torch.tensor([ids]), max_new_tokens=12, min_new_tokens=12, do_sample=False)[0, len(ids):]
                    .tolist() for ids in prompts]

    before = answers("before")
    assert run(server.load(str(other))) == str(other)
    loaded = answers("loaded")
    assert loaded == transformers_answers(model) and loaded != before
    run(server.load(str(tiny_model_dir)))
    assert answers("back") == before
