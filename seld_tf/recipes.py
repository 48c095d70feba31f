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
from pathlib import Path
from typing import Any

import yaml

from seld_tf.errors import ConfigError
from seld_tf.fileio import atomic_open

# Bounds a field may declare through `field`: value `op` limit must hold.
_BOUNDS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="), "lt": (operator.lt, "<")}
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "mapping"}
# PyYAML (YAML 1.1) reads 1e-3 and 1.0e3 as strings: a float needs a dot and a signed exponent.
_YAML_STRING_FLOAT = re.compile(r"[-+]?[0-9.]+[eE][-+]?[0-9]+")


def field(default, **bounds):
    """A dataclass field whose loaded values must satisfy `bounds`, e.g. `ge=1` for `value >= 1`."""
    return dataclasses.field(default=default, metadata={"bounds": bounds})


SCALERS = ("dataset", "instance_minmax")
MIXUP_KEYS = {"alpha", "probability", "mode", "per_example_lambda", "pairing", "mix_unlabeled"}
PIPELINE_AUGMENTATIONS = ("spec_augment", "foa_rotation", "mixup")


@dataclasses.dataclass(frozen=True)
class PipelineSpec:
    """tf.data settings. `train_frames` counts feature frames per training window.

    `subsets` asks for batches mixing several splits of the task in fixed
    numbers (split name -> windows per batch, in slice order; it replaces
    `batch_size`), an epoch being one pass of `epoch_subset`.

    Augmentations, each applied by the tasks that name it in their
    `pipeline_augmentations` (a recipe setting one its task does not apply is
    an error): `spec_augment` (keyword arguments of
    `seld_tf.augment.SpecAugment`), `foa_rotation`, `mixup` (keyword
    arguments of `seld_tf.augment.Mixup` but its seed, e.g. the DCASE2022
    baseline's `{alpha: 0.2, probability: 0.5, mix_unlabeled: false}`)."""

    train_frames: int = field(300, ge=1)
    batch_size: int = field(256, ge=1)
    shuffle_buffer: int = field(1024, ge=1)
    spec_augment: dict | None = None
    foa_rotation: bool = False
    mixup: dict | None = None
    subsets: dict | None = None
    epoch_subset: str | None = None

    def __post_init__(self):
        unknown = set(self.mixup or ()) - MIXUP_KEYS
        if unknown:
            raise ConfigError(f"pipeline.mixup: unknown keys {sorted(unknown)}; expected some of {sorted(MIXUP_KEYS)}")
        if self.subsets is None:
            if self.epoch_subset is not None:
                raise ConfigError("pipeline.epoch_subset needs pipeline.subsets")
            return
        for name, count in self.subsets.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigError(f"pipeline.subsets.{name}: expected an integer >= 1 (windows per batch), found {count!r}")
        if self.epoch_subset not in self.subsets:
            raise ConfigError(f"pipeline.epoch_subset: expected one of {sorted(self.subsets)}, found {self.epoch_subset!r}")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered builder, an optional size preset of it, and argument overrides; `scaler`, the
    model's input scaling: "dataset" (per bin and channel, by the training features' mean and
    standard deviation) or "instance_minmax" (each clip to [0, 1] by its own range, the DCASE2022
    Task 4 baseline's)."""

    name: str = "seldnet"
    preset: str | None = "paper"
    args: dict = dataclasses.field(default_factory=dict)
    scaler: str = "dataset"

    def __post_init__(self):
        if self.scaler not in SCALERS:
            raise ConfigError(f"model.scaler: expected one of {list(SCALERS)}, found {self.scaler!r}")


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """`name`: "adam", "adamw" or "radam" (`seld_tf.optimizers.RAdam`)."""

    name: str = "adam"
    weight_decay: float | None = field(None, ge=0)
    clipnorm: float | None = field(None, gt=0)


# ReduceLROnPlateau's arguments a recipe may set; the monitor and mode are the task's.
PLATEAU_KEYS = frozenset({"factor", "patience", "min_delta", "cooldown", "min_lr"})


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """Warm-up then piecewise exponential decay, in epochs, optionally under the
    DCASE2022 Task 4 baseline's exponential ramp-up over `rampup_epochs`
    (`WarmupExponentialDecay`); or, with `plateau`
    (keyword arguments of `keras.callbacks.ReduceLROnPlateau`, e.g.
    `{factor: 0.5, patience: 5}`), a rate cut whenever the task's validation
    monitor stops improving."""

    initial_learning_rate: float = field(1e-3, gt=0)
    warmup_epochs: int = field(0, ge=0)
    warmup_learning_rate: float | None = field(None, gt=0)
    decay_epochs: tuple[int, ...] = field((), ge=0)
    decay_rate: float = field(1.0, gt=0)
    rampup_epochs: int = field(0, ge=0)
    plateau: dict | None = None

    def __post_init__(self):
        if self.plateau is not None and (self.warmup_epochs or self.decay_epochs or self.rampup_epochs):
            raise ConfigError("schedule.plateau cannot be combined with warmup_epochs, decay_epochs or rampup_epochs")
        unknown = set(self.plateau or ()) - PLATEAU_KEYS
        if unknown:
            raise ConfigError(f"schedule.plateau: unknown keys {sorted(unknown)}; expected some of {sorted(PLATEAU_KEYS)}")


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    """`precision`: the Keras dtype policy the model is built with: "float32",
    "mixed_bfloat16" or "mixed_float16" (Keras adds loss scaling to the
    optimizer for the latter)."""

    epochs: int = field(50, ge=1)
    steps_per_epoch: int | None = field(None, ge=1)
    seed: int = field(0, ge=0)
    validate_every: int = field(1, ge=1)
    precision: str = "float32"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ConfigError(f"training.precision: expected one of {list(PRECISIONS)}, found {self.precision!r}")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A whole experiment. `task` names the task (`seld_tf.tasks`), which owns
    the groups `data`, `loss` and `evaluation`: they hold its dataclasses."""

    name: str
    task: str = "seld"
    data: Any = None
    pipeline: PipelineSpec = PipelineSpec()
    model: ModelSpec = ModelSpec()
    loss: Any = None
    optimizer: OptimizerSpec = OptimizerSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    training: TrainingSpec = TrainingSpec()
    evaluation: Any = None

    def __post_init__(self):
        from seld_tf.tasks import task_class

        # A task-owned group left out takes the task's defaults.
        for group, spec in task_class(self.task).groups.items():
            if getattr(self, group) is None:
                object.__setattr__(self, group, spec())

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


def _build(cls, values: Any, where: str, key: str = "", hints: dict | None = None):
    """`cls` from a mapping; `where` names the source (a file), `key` the path to `values` in it.
    `hints` overrides field types (a recipe's task-owned groups)."""
    if not isinstance(values, dict):
        raise _error(where, key, f"expected a mapping, found {type(values).__name__}")
    fields = {spec.name: spec for spec in dataclasses.fields(cls)}
    unknown = sorted(str(name) for name in set(values) - set(fields))
    if unknown:
        raise _error(where, key, f"unknown key(s) {unknown}; known keys: {sorted(fields)}")
    hints = {**typing.get_type_hints(cls), **(hints or {})}
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
    from seld_tf.tasks import task_class

    if not isinstance(values, dict):
        raise _error(where, "", f"expected a mapping, found {type(values).__name__}")
    if "name" not in values:
        raise ConfigError(f"{where}: missing key 'name'")
    task = values.get("task", Recipe.task)
    if not isinstance(task, str):
        raise _error(where, "task", f"expected a string, found {task!r}")
    recipe = _build(Recipe, values, where, hints=task_class(task).groups)
    applied = task_class(task).pipeline_augmentations
    for key in PIPELINE_AUGMENTATIONS:
        if getattr(recipe.pipeline, key) and key not in applied:
            raise ConfigError(f"{where}: pipeline.{key} does not apply to task {task!r} (it applies {list(applied) or 'none'})")
    return recipe


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read a YAML recipe (safe loader); errors name the file and the bad key.

    `extends: PARENT` (a path relative to the recipe's folder) starts from the
    parent recipe, itself loaded this way, and applies this file on top: a
    mapping merges key by key, anything else (a list, a scalar, null)
    replaces the parent's value. A key cannot be removed, only overridden.
    The loaded recipe has no trace of `extends`: saving it writes the whole,
    resolved recipe."""
    path = Path(path)
    values, parents = _resolve(path, ())
    where = os.fspath(path)
    if parents:
        # The key at fault may come from a parent: name them all.
        where += f" (extends {', which extends '.join(map(str, parents))})"
    return recipe_from_dict(values, where=where)


def _resolve(path: Path, children: tuple[Path, ...]) -> tuple[dict, list[Path]]:
    """The values of `path` with its parents merged in, and the parents, nearest first.
    `children` are the files that extend `path`, the one loaded first."""
    values = _read_values(path, children[-1] if children else None)
    parent = values.pop("extends", None)
    if parent is None:
        return values, []
    if not isinstance(parent, str):
        raise _error(os.fspath(path), "extends", f"expected a path relative to the recipe's folder, found {parent!r}")
    chain = (*children, path)
    parent_path = path.parent / parent
    if any(parent_path.resolve() == seen.resolve() for seen in chain):
        cycle = " -> ".join(map(str, (*chain, parent_path)))
        raise ConfigError(f"{path}: extends: a cycle of recipes: {cycle}")
    parent_values, ancestors = _resolve(parent_path, chain)
    return _merge(parent_values, values), [parent_path, *ancestors]


def _read_values(path: Path, extended_by: Path | None) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle)
    except FileNotFoundError:
        if extended_by is not None:
            raise ConfigError(f"{extended_by}: extends: expected a recipe file, found no such file {path}") from None
        raise ConfigError(f"{path}: expected a recipe file, found no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: expected a readable UTF-8 recipe file: {error}") from None
    except yaml.YAMLError as error:
        # YAML's messages span lines; an error here is one line.
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise _error(os.fspath(path), "", f"expected a mapping, found {type(values).__name__}")
    return values


def _merge(parent: dict, child: dict) -> dict:
    merged = dict(parent)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def save_recipe(recipe: Recipe, path: str | os.PathLike) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(recipe.to_dict(), handle, sort_keys=False)
