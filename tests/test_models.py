"""The tiny CPU policy folder loads through the one loading path and generates."""

import json

import pytest
import torch

from depo_ray.models.loading import load_model, load_tokenizer
from depo_ray.models.tiny import vocabulary_of
from depo_ray.models.config import TinyModelConfig
from environments.babyai.vocabulary import vocabulary_texts


def test_folder_is_a_plain_hugging_face_model(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["hidden_size"] // config["num_attention_heads"] == 64 == config["head_dim"]
    model, tokenizer = load_model(str(tiny_model_dir)), load_tokenizer(str(tiny_model_dir))
    assert model.config.vocab_size == len(tokenizer)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Mission: go to the red ball"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids.shape[1]
    assert tokenizer.unk_token_id not in ids[0].tolist()


def test_tiny_config_insists_on_head_dim_64():
    with pytest.raises(ValueError, match="multiple of 64"):
        TinyModelConfig(hidden_size=96)


def test_the_babyai_vocabulary_is_the_words_of_the_envs_texts():
    vocabulary = vocabulary_of(vocabulary_texts())
    # 1180 words before the environments listed texts instead of words: the same set
    assert len(vocabulary) == 1180
    assert {"purple", "grey", "lava", "wall", "toggle", "locked", "mission", "thought", "0", "999", "'", "_", "("} <= vocabulary
    assert "1000" not in vocabulary and all(word == word.lower() for word in vocabulary)
