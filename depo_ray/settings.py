"""Settings as plain data, and how two such snapshots differ.

A stage (or a sweep) stores the settings its outputs depend on next to them; a later run
compares them with its own and reuses the outputs only when nothing that matters changed.
"""

from __future__ import annotations

import dataclasses
import json

SCHEDULING = frozenset({"serving", "workers", "cpus_per_worker", "max_failures", "checkpoint_every", "report_every",
                        "micro_batch_size", "trees_per_worker", "episodes_per_worker", "max_in_flight", "backoff_s",
                        "max_worker_restarts"})
"""Settings that change how work is scheduled, not what it produces: changing them (to fit
another cluster) does not make finished work stale."""


RETIRED = {"policy": ("", None), "model": ("",), "output_dir": ("",), "run_dir": ("",), "max_new_tokens": (None,),
           "env": (None, {"name": "babyai", "options": {}})}
"""Fields that stage sections once had for the pipeline to fill in, each with the values a
section could hold for it (the pipeline refused any other): stored settings that still
carry one compare equal to today's, which no longer have it, and a saved config that
carries one still loads."""


def without_scheduling(value):
    """Plain-data settings with every ``SCHEDULING`` key left out, at any depth."""
    if isinstance(value, dict):
        return {k: without_scheduling(v) for k, v in value.items() if k not in SCHEDULING}
    return value


def plain(value):
    """Settings as they read back from JSON (tuples become lists), so stored and current
    settings compare equal when they are."""
    return json.loads(json.dumps(value, default=str))


def field_defaults(config) -> dict:
    """``dataclasses.asdict``'s shape with each field at its declared default (nested configs
    followed as they are set), to tell a setting added to the code later from a changed one."""
    out = {}
    for f in dataclasses.fields(config):
        current = getattr(config, f.name)
        if dataclasses.is_dataclass(current):
            out[f.name] = field_defaults(current)
        elif f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            out[f.name] = dataclasses.asdict(default) if dataclasses.is_dataclass(default) else default
        else:
            out[f.name] = current
    return out


def first_difference(old, new, where: str = "", defaults=None) -> str | None:
    """The first dotted key where two plain-data settings differ, with both values. With
    ``defaults`` (the same settings at their default values), a key missing from ``old`` is
    a setting added to the code after ``old`` was stored: a change only if it is not at its
    default. A ``RETIRED`` key missing from ``new`` is no change while ``old`` holds one of
    its retired values."""
    if isinstance(old, dict) and isinstance(new, dict):
        defaults = defaults if isinstance(defaults, dict) else {}
        for key in sorted(set(old) | set(new)):
            if key not in old and key in defaults and new.get(key) == defaults[key]:
                continue
            if key not in new and key not in defaults and old[key] in RETIRED.get(key, ()):
                continue
            found = first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else str(key), defaults.get(key))
            if found:
                return found
        return None
    return None if old == new else f"{where or 'settings'}: {old!r} -> {new!r}"
