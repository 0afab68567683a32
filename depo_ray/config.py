"""Typed configs from YAML: nested dataclasses, validated at load with the offending key named.

Unknown keys, wrong types and values a dataclass's own checks refuse all fail here, before
any cluster work, as ``ConfigError("<file>: <dotted.key>: <what is wrong>")``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from depo_ray.models.sources import SOURCES, prepare
from depo_ray.settings import RETIRED


class ConfigError(ValueError):
    pass


def from_dict(cls, data: Any, where: str = ""):
    """Build dataclass ``cls`` from plain data, checking every key and type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    # a run's saved config.yaml from before a field was retired still loads
    data = {k: v for k, v in data.items() if k in fields or v not in RETIRED.get(k, ())}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{_join(where, unknown[0])}: unknown key; {cls.__name__} takes {sorted(fields)}")
    values = {name: _convert(hints[name], value, _join(where, name)) for name, value in data.items()}
    missing = [n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{_join(where, missing[0])}: required key is missing")
    try:
        return cls(**values)
    except ValueError as error:
        raise ConfigError(f"{where or 'config'}: {error}") from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _convert(hint, value, where: str):
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{where}: must be one of {list(typing.get_args(hint))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def load_yaml(cls, path: str | Path, overrides: dict | None = None, required: tuple[str, ...] = ()):
    """Load ``cls`` from a YAML file, with optional overrides (dotted keys reach into sections,
    see ``parse_overrides``); ``required`` names fields that must not be left empty (see ``require``)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start})") from None
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read config: {error}") from None
    try:
        if overrides and not isinstance(data, dict):
            raise ConfigError(f"expected a mapping of keys at the top, found {type(data).__name__}")
        for key, value in (overrides or {}).items():
            set_dotted(data, key, value)
        config = from_dict(cls, data)
        require(config, *required)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return config


def set_dotted(data: dict, key: str, value) -> None:
    """``data["a"]["b"] = value`` for key "a.b", making absent or null sections."""
    *sections, name = key.split(".")
    for section in sections:
        if data.get(section) is None:  # absent or null (e.g. ``lora: null``): a new section
            data[section] = {}
        data = data[section]
        if not isinstance(data, dict):
            raise ConfigError(f"{key}: {section} is not a section, cannot set a key inside it")
    data[name] = value


def parse_overrides(pairs: list[str]) -> dict:
    """``["seeds=[0,1,2]", "depo.loss.beta=0.1"]`` -> ``{"seeds": [0, 1, 2], "depo.loss.beta": 0.1}``;
    values are YAML, so lists, numbers and null read as in a config file (write 1.0e-4, not
    1e-4, which YAML reads as a string, for a float)."""
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE (a dotted key, a YAML value)")
        try:
            overrides[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {pair!r}: the value is not YAML: {error}") from None
    return overrides


def get_dotted(config, name: str):
    """``config.a.b`` for name "a.b"."""
    for part in name.split("."):
        config = getattr(config, part)
    return config


def require(config, *names: str) -> None:
    """Fields a job must not leave empty (its model, its output folder): ConfigError naming
    the first one that is (dotted names reach into nested configs)."""
    for name in names:
        if not get_dotted(config, name):
            raise ConfigError(f"{name}: required when this stage runs on its own")


def load_job_config(cls, root: Path, path: str, required: tuple[str, ...] = (), overrides: list[str] = ()):
    """A job's ``--config``, taken from the project root, loaded and checked, with the paths
    it must give when run alone; a bad one ends the job naming the file and key (SystemExit)
    before any cluster work."""
    try:
        return load_yaml(cls, under_root(root, path), parse_overrides(list(overrides)), required=required)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None


def under_root(root: Path, path: str) -> str:
    """``path`` as given when absolute, else taken from the project root: a job submitted
    with ``ray job submit`` runs in a directory of Ray's choosing."""
    return path if Path(path).is_absolute() else str(root / path)


def model_under_root(root: Path, model: str) -> str:
    """A model folder under the root, or a named model's prepared folder (prepared on first
    use); anything else is a Hugging Face id, kept."""
    if model in SOURCES:
        return str(prepare(model))
    return under_root(root, model) if (root / model).exists() else model
