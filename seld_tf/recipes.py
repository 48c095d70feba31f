"""Recipes: the one place that ties a dataset, features, model, losses,
optimizer and schedule together. A recipe is YAML, loaded safely, with every
group mapping one-to-one to constructor arguments; unknown keys are errors.
Every value is checked against its field's type hint and bounds on load (and
by `Recipe.replace`), so `epochs: "1"` or `epochs: 0` fails at once, naming
the file and key, instead of deep inside training or after training nothing."""

from __future__ import annotations

import dataclasses
import operator
import os
import re
import typing
from typing import Any

import yaml

from seld_tf.errors import ConfigError
from seld_tf.fileio import atomic_open

# Bounds a field may declare through `_field`: value `op` limit must hold.
_BOUNDS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="), "lt": (operator.lt, "<")}
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "mapping"}
# PyYAML (YAML 1.1) reads 1e-3 and 1.0e3 as strings: a float needs a dot and a signed exponent.
_YAML_STRING_FLOAT = re.compile(r"[-+]?[0-9.]+[eE][-+]?[0-9]+")


def _field(default, **bounds):
    """A dataclass field whose loaded values must satisfy `bounds`, e.g. `ge=1` for `value >= 1`."""
    return dataclasses.field(default=default, metadata={"bounds": bounds})


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Which data and features. Folds follow the DCASE2020 challenge split by default."""

    format: str = "foa"
    features: str = "dcase2020"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    train_folds: tuple[int, ...] = _field((3, 4, 5, 6), ge=1)
    validation_folds: tuple[int, ...] = _field((2,), ge=1)
    test_folds: tuple[int, ...] = _field((1,), ge=1)
    label_form: str = "classwise"
    num_tracks: int = _field(2, ge=1)


@dataclasses.dataclass(frozen=True)
class PipelineSpec:
    """tf.data settings. `train_frames` counts feature frames per training window."""

    train_frames: int = _field(300, ge=1)
    batch_size: int = _field(256, ge=1)
    shuffle_buffer: int = _field(1024, ge=1)
    spec_augment: dict | None = None
    foa_rotation: bool = False


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered builder, an optional size preset of it, and argument overrides."""

    name: str = "seldnet"
    preset: str | None = "paper"
    args: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """SED loss ("bce" or "mse"), DOA masking, output weights, and permutation-
    invariant training for trackwise outputs ("none", "tpit" frame-level, "cpit" chunk-level)."""

    sed: str = "bce"
    doa_masked: bool = True
    sed_weight: float = _field(1.0, ge=0)
    doa_weight: float = _field(1000.0, ge=0)
    pit: str = "none"


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    name: str = "adam"
    weight_decay: float | None = _field(None, ge=0)
    clipnorm: float | None = _field(None, gt=0)


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """Warm-up then piecewise exponential decay, in epochs."""

    initial_learning_rate: float = _field(1e-3, gt=0)
    warmup_epochs: int = _field(0, ge=0)
    warmup_learning_rate: float | None = _field(None, gt=0)
    decay_epochs: tuple[int, ...] = _field((), ge=0)
    decay_rate: float = _field(1.0, gt=0)


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    epochs: int = _field(50, ge=1)
    steps_per_epoch: int | None = _field(None, ge=1)
    seed: int = _field(0, ge=0)
    validate_every: int = _field(1, ge=1)


@dataclasses.dataclass(frozen=True)
class EvaluationSpec:
    """Inference: threshold on activity; `segment_frames` (feature frames) splits
    clips into non-overlapping segments, `None` predicts whole clips. `oracle`
    ("sed" or "doa") replaces that task's predictions by the reference in
    validation and evaluation scores, to score the other task alone
    (`seld_tf.evaluation.decode_with_oracle`)."""

    threshold: float = _field(0.5, gt=0, lt=1)
    segment_frames: int | None = _field(None, ge=1)
    coordinates: str = "polar"
    oracle: str | None = None


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    data: DataSpec = DataSpec()
    pipeline: PipelineSpec = PipelineSpec()
    model: ModelSpec = ModelSpec()
    loss: LossSpec = LossSpec()
    optimizer: OptimizerSpec = OptimizerSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    training: TrainingSpec = TrainingSpec()
    evaluation: EvaluationSpec = EvaluationSpec()

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))

    def replace(self, **groups: dict) -> "Recipe":
        """A copy with some fields of some groups changed, e.g. `replace(training={"epochs": 3})`."""
        merged = self.to_dict()
        for group, values in groups.items():
            merged[group] = {**merged.get(group, {}), **values}
        return recipe_from_dict(merged, where=f"recipe {self.name!r}")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _error(where: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def _build(cls, values: Any, where: str, key: str = ""):
    """`cls` from a mapping; `where` names the source (a file), `key` the path to `values` in it."""
    if not isinstance(values, dict):
        raise _error(where, key, f"expected a mapping, found {type(values).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(str(name) for name in set(values) - set(fields))
    if unknown:
        raise _error(where, key, f"unknown key(s) {unknown}; known keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    return cls(
        **{
            name: _convert(hints[name], value, fields[name].metadata.get("bounds", {}), where, f"{key}.{name}" if key else name)
            for name, value in values.items()
        }
    )


def _optional_of(hint) -> Any:
    """X for a hint `X | None`, else None."""
    args = typing.get_args(hint)
    if type(None) not in args:
        return None
    (inner,) = [arg for arg in args if arg is not type(None)]
    return inner


def _convert(hint, value: Any, bounds: dict, where: str, key: str) -> Any:
    """`value` as the field of type `hint` holds it (a tuple for a list, a float for an int)."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, key)
    kind = _optional_of(hint)
    if kind is None:
        kind = hint
    elif value is None:
        return None
    if typing.get_origin(kind) is tuple and isinstance(value, (list, tuple)):
        item = typing.get_args(kind)[0]
        return tuple(_convert(item, element, bounds, where, f"{key}[{index}]") for index, element in enumerate(value))
    if _is_instance(value, kind) and all(_BOUNDS[name][0](value, limit) for name, limit in bounds.items()):
        return float(value) if kind is float else value
    problem = f"expected {_describe(hint, bounds)}, found {value!r} ({type(value).__name__})"
    if kind is float and isinstance(value, str) and _YAML_STRING_FLOAT.fullmatch(value):
        problem += "; YAML reads such numbers as strings: write them like 1.0e-3"
    raise _error(where, key, problem)


def _is_instance(value: Any, hint) -> bool:
    if typing.get_origin(hint) is not None:  # a list, which `value` is not
        return False
    # bool is a subclass of int, but `true` is no integer.
    if isinstance(value, bool):
        return hint is bool
    return isinstance(value, (int, float) if hint is float else hint)


def _describe(hint, bounds: dict) -> str:
    inner = _optional_of(hint)
    if inner is not None:
        return f"{_describe(inner, bounds)} or null"
    limits = " and ".join(f"{_BOUNDS[name][1]} {limit}" for name, limit in bounds.items())
    if typing.get_origin(hint) is tuple:
        noun = f"list of {_TYPE_NAMES[typing.get_args(hint)[0]]}s"
    else:
        noun = _TYPE_NAMES[hint]
    article = "an" if noun[0] in "aeiou" else "a"
    return f"{article} {noun} {limits}" if limits else f"{article} {noun}"


def recipe_from_dict(values: dict, where: str = "recipe") -> Recipe:
    """A `Recipe` from plain values; a `ConfigError` names `where`, the key and what was expected."""
    if isinstance(values, dict) and "name" not in values:
        raise ConfigError(f"{where}: missing key 'name'")
    return _build(Recipe, values, where)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read a YAML recipe (safe loader); errors name the file and the bad key."""
    try:
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: expected a recipe file, found no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: expected a readable UTF-8 recipe file: {error}") from None
    except yaml.YAMLError as error:
        # YAML's messages span lines; an error here is one line.
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    return recipe_from_dict(values or {}, where=os.fspath(path))


def save_recipe(recipe: Recipe, path: str | os.PathLike) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(recipe.to_dict(), handle, sort_keys=False)
