import pytest

from depo_ray.models import load_tokenizer
from depo_ray.models.tiny import TinyModelConfig, build_tiny_policy
from environments.babyai.vocabulary import vocabulary


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A freshly built tiny policy folder (2 small layers keep tests fast)."""
    config = TinyModelConfig(hidden_size=128, num_layers=2, intermediate_size=256, max_position_embeddings=4096)
    return build_tiny_policy(vocabulary(), tmp_path_factory.mktemp("tiny") / "policy", config)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))
