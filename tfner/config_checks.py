"""Checks of a :class:`tfner.config.TaggerConfig`'s values: each field's type, range and choices, the tasks and
their weights, and option names; every failure a :class:`ConfigError` that names the field.

The config calls these from ``__post_init__``; they read its fields and change nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from tfner.data.schemes import SCHEMES
from tfner.errors import ConfigError


def check_names(options: Iterable[str], names: tuple[str, ...]) -> None:
    """Raise for a key of ``options`` that is not among ``names``, with the closest name as a hint."""
    for key in options:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; valid options: {', '.join(names)}"
            raise ConfigError(f"unknown option {key!r}{hint}")


def check_types(cfg: Any) -> None:
    """Every field of the dataclass ``cfg`` holds a value of its annotated type."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        _check_type(f.name, getattr(cfg, f.name), hints[f.name])


def check_values(cfg: Any) -> None:
    """Ranges, choices and the combinations that cannot work together."""
    # a TaggerConfig's max_length=None is chosen by its context: checked against the shortest it can become
    length = cfg.max_length if cfg.max_length is not None else getattr(cfg, "chosen_max_length", 128)
    if cfg.max_length is not None and (cfg.max_length < 8 or cfg.max_length > 512):
        raise ConfigError(f"max_length must be in [8, 512], got {cfg.max_length}")
    most = (length - 2) // 2
    for name in ("window_overlap", "predict_overlap"):
        if getattr(cfg, name) is not None and not 0 <= getattr(cfg, name) <= most:
            raise ConfigError(f"{name} must be in [0, (max_length - 2) // 2 = {most}] or None, "
                              f"got {getattr(cfg, name)}")
    if cfg.sentences_alone is not None and not 0.0 <= cfg.sentences_alone <= 1.0:
        raise ConfigError(f"sentences_alone must be in [0, 1] or None, got {cfg.sentences_alone}")
    if cfg.scheme not in SCHEMES:
        raise ConfigError(f"scheme must be one of {SCHEMES}, got {cfg.scheme!r}")
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):  # every Literal field: one of its choices
        choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is Literal else ()
        if choices and getattr(cfg, f.name) not in choices:
            raise ConfigError(f"{f.name} must be one of {', '.join(map(repr, choices))}, "
                              f"got {getattr(cfg, f.name)!r}")
    if cfg.head == "crf" and cfg.label_all_subtokens:
        raise ConfigError("head='crf' scores one tag per word (its first sub-token); "
                          "it cannot be combined with label_all_subtokens=True")
    for name in ("batch_size", "epochs", "accumulate_steps"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.freeze_encoder_epochs < 0:
        raise ConfigError(f"freeze_encoder_epochs must be >= 0, got {cfg.freeze_encoder_epochs}")
    if cfg.patience is not None and cfg.patience < 1:
        raise ConfigError(f"patience must be >= 1 or None, got {cfg.patience}")
    if not (math.isfinite(cfg.min_delta) and cfg.min_delta >= 0):
        raise ConfigError(f"min_delta must be a finite number >= 0, got {cfg.min_delta}")
    check_optimizer_values(cfg)
    if cfg.length_buckets is not None:
        b = cfg.length_buckets
        if list(b) != sorted(set(b)) or not all(2 < x < length for x in b):
            raise ConfigError(f"length_buckets must be strictly increasing and within (2, max_length), got {b}")


def check_optimizer_values(cfg: Any) -> None:
    """The optimizer's options (``learning_rate``, ``warmup_ratio``, ``weight_decay``, ``clipnorm``), which
    ``TaggerConfig`` and ``PretrainConfig`` share: finite, a rate > 0 (``None``: the recipe's), warm-up in [0, 1)."""
    for name in ("learning_rate", "warmup_ratio", "weight_decay", "clipnorm"):
        value = getattr(cfg, name)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
    if cfg.learning_rate is not None and not cfg.learning_rate > 0:
        raise ConfigError(f"learning_rate must be > 0, got {cfg.learning_rate}")
    if not 0 <= cfg.warmup_ratio < 1:
        raise ConfigError(f"warmup_ratio must be in [0, 1), got {cfg.warmup_ratio}")
    if cfg.weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {cfg.weight_decay}")
    if cfg.clipnorm is not None and not cfg.clipnorm > 0:
        raise ConfigError(f"clipnorm must be > 0 or None, got {cfg.clipnorm}")


def check_tasks(cfg: Any) -> None:
    """``tasks`` (name -> tag column, the main task first) and ``task_weights`` agree and can be trained."""
    if cfg.tasks is None:
        if cfg.task_weights is not None:
            raise ConfigError("task_weights needs tasks (task name -> tag column)")
        return
    names = [name for name, _ in cfg.tasks]
    if not names:
        raise ConfigError("tasks must name at least one task (or be None)")
    if len(set(names)) != len(names) or any(not n or ":" in n for n in names):
        raise ConfigError(f"task names must be distinct, non-empty and without ':', got {names}")
    columns = [c for _, c in cfg.tasks]
    if len(set(columns)) != len(columns):
        raise ConfigError(f"tasks must read distinct columns, got {dict(cfg.tasks)}")
    weights = dict(cfg.task_weights or ())
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ConfigError(f"task_weights names {unknown}, which are not among tasks {names}")
    for name, w in weights.items():
        if not (math.isfinite(w) and w >= 0):
            raise ConfigError(f"task_weights[{name!r}] must be a finite number >= 0, got {w}")
    if weights.get(names[0], 1.0) == 0:
        raise ConfigError(f"the main task {names[0]!r} (the first of tasks) must have a weight > 0")
    if len(names) == 1 and weights.get(names[0], 1.0) != 1.0:  # one loss: nothing to weigh it against
        raise ConfigError(f"task_weights[{names[0]!r}] weighs the main task against further tasks, and tasks names "
                          "none: its loss would be used unweighted")
    if len(names) > 1 and cfg.accumulate_steps > 1:
        raise ConfigError("several tasks cannot be combined with accumulate_steps > 1 yet")


def _check_type(name: str, value: Any, hint: Any) -> None:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name} must be one of {args}, got {value!r}")
        return
    if origin is tuple and typing.get_origin(args[0]) is tuple:  # (name, value) pairs
        kind = typing.get_args(args[0])[1]
        for pair in value:
            if not isinstance(pair[0], str):
                raise ConfigError(f"{name}: names must be strings, got {pair[0]!r}")
            _check_type(f"{name}[{pair[0]!r}]", pair[1], kind)
        return
    if origin is tuple:
        if not isinstance(value, (tuple, list)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{name} must be a list of integers, got {value!r}")
        return
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }[hint](value)
    if not ok:
        raise ConfigError(f"{name} must be of type {hint.__name__}, got {value!r}")
