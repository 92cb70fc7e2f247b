"""Settings described once, on the dataclass field (mlx-lm's `tuner/trainer.py` style).

`setting()` puts a field's help, limits and choices in its metadata; `describe()` reads them
back with the field's type from `typing.get_type_hints`. The config checks, the CLI's list
of keys, the window's tooltips and ranges, and the README's table all come from there.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import MISSING, dataclass
from functools import cache
from typing import Any

from mlxstudio.core.errors import UserError


class ConfigError(UserError):
    pass


def setting(
    default: Any = MISSING,
    *,
    help: str,
    factory: Any = MISSING,
    min: float | None = None,
    above: float | None = None,
    max: float | None = None,
    below: float | None = None,
    choices: tuple[str, ...] = (),
    keys: type | None = None,
    refused: str = "",
    stages: tuple[str, ...] = (),
) -> Any:
    """A dataclass field with its description. `min`/`max` are inclusive limits, `above`/
    `below` exclusive ones; `keys` is a dataclass describing a mapping's keys; `refused` says
    why any value but the default is turned down (and what to do); `stages` are the only
    stages that honour a value other than the default."""
    given = dict(min=min, above=above, max=max, below=below, choices=choices, keys=keys)
    given.update(refused=refused, stages=stages)
    metadata = {"help": help} | {k: v for k, v in given.items() if v not in (None, (), "")}
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """What `describe()` knows of one key."""

    name: str
    kinds: tuple[type, ...]  # the Python types a value may have; () for anything
    optional: bool  # null is a valid value
    default: Any
    help: str
    min: float | None = None
    above: float | None = None
    max: float | None = None
    below: float | None = None
    choices: tuple[str, ...] = ()
    refused: str = ""
    stages: tuple[str, ...] = ()
    keys: dict[str, Setting] | None = None  # a mapping's keys

    @property
    def type_words(self) -> str:
        if not self.kinds:
            return "anything"
        words = type_name(self.kinds[0])
        if self.optional:
            return "true, false or null" if self.kinds[0] is bool else f"{words} or null"
        return words

    def limit_problem(self, value: Any) -> str | None:
        """What is wrong with a number against this setting's limits ("must be at least 1,
        got 0"), or None."""
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        for bound, bad, words in (
            (self.min, lambda b: value < b, "must be at least {}"),
            (self.above, lambda b: value <= b, "must be above {}"),
            (self.max, lambda b: value > b, "must be at most {}"),
            (self.below, lambda b: value >= b, "must be below {}"),
        ):
            if bound is not None and bad(bound):
                if words.startswith("must be at least") and bound == 0:
                    return f"must not be negative, got {value}"
                return f"{words.format(_number(bound))}, got {value}"
        return None

    def limit_words(self) -> str:
        """The limits and choices in a few words ("at least 1", "one of lora, dora, full")."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        if self.min is not None:
            parts.append("not negative" if self.min == 0 else f"at least {_number(self.min)}")
        if self.above is not None:
            parts.append(f"above {_number(self.above)}")
        if self.max is not None:
            parts.append(f"at most {_number(self.max)}")
        if self.below is not None:
            parts.append(f"below {_number(self.below)}")
        if self.stages:
            parts.append("only in stages " + ", ".join(self.stages))
        return "; ".join(parts)


def _number(value: float) -> str:
    return f"{value:g}"


def type_name(kind: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
    names.update({list: "a list", dict: "a mapping"})
    return names.get(kind, str(kind))


def _kinds(hint: Any) -> tuple[tuple[type, ...], bool]:
    """A type hint as the types a YAML value may have, and whether null is allowed."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    args = typing.get_args(hint) if union else (hint,)
    kinds: list[type] = []
    for arg in args:
        if arg is type(None):
            continue
        if arg is Any:
            return (), True
        kinds.append(typing.get_origin(arg) or arg)
    if float in kinds and int not in kinds:
        kinds.append(int)  # 1 is a fine learning rate
    return tuple(kinds), type(None) in args


@cache
def describe(cls: type) -> dict[str, Setting]:
    """Every field of a dataclass described by `setting()`, by name, in declaration order."""
    hints = typing.get_type_hints(cls)
    described = {}
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        default = f.default
        if default is MISSING:
            default = f.default_factory() if f.default_factory is not MISSING else None
        kinds, optional = _kinds(hints[f.name])
        keys = meta.pop("keys", None)
        described[f.name] = Setting(
            name=f.name,
            kinds=kinds,
            optional=optional,
            default=default,
            keys=describe(keys) if keys is not None else None,
            **meta,
        )
    return described


def check_type(where: str, key: str, value: Any, kinds: tuple[type, ...]) -> Any:
    """The value if it has one of `kinds` (an int becomes a float where a number is asked);
    else a ConfigError naming the key."""
    if not kinds or value is None:
        return value
    ok = False if isinstance(value, bool) and bool not in kinds else isinstance(value, kinds)
    if not ok:
        raise ConfigError(
            f"{where}: '{key}' must be {type_name(kinds[0])}, got {value!r}; "
            f"fix the value in the config"
        )
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def unknown_key(where: str, key: str, valid: list[str], section: str = "") -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    scope = f" in '{section}'" if section else ""
    return ConfigError(f"{where}: unknown key '{key}'{scope}{hint}; remove or rename it")


def check_value(where: str, key: str, value: Any, spec: Setting) -> Any:
    """One value checked against its description: type, choices, limits, a mapping's keys.
    Returns the value (an int made a float where a number is asked)."""
    value = check_type(where, key, value, spec.kinds)
    if spec.choices and value is not None and value not in spec.choices:
        raise ConfigError(
            f"{where}: '{key}' must be one of {', '.join(spec.choices)}; got {value!r}"
        )
    if problem := spec.limit_problem(value):
        raise ConfigError(f"{where}: '{key}' {problem}; fix the value in the config")
    if spec.keys is not None and isinstance(value, dict):
        checked = {}
        for sub, sub_value in value.items():
            if sub not in spec.keys:
                raise unknown_key(where, str(sub), list(spec.keys), section=key)
            checked[sub] = check_value(where, f"{key}.{sub}", sub_value, spec.keys[sub])
        return checked
    return value
