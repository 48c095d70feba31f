"""Recipes: the one place that ties a dataset, features, model, losses,
optimizer and schedule together. A recipe is YAML, loaded safely, with every
group mapping one-to-one to constructor arguments; unknown keys are errors."""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any

import yaml

from seld_tf.errors import ConfigError
from seld_tf.fileio import atomic_open


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Which data and features. Folds follow the DCASE2020 challenge split by default."""

    format: str = "foa"
    features: str = "dcase2020"
    feature_overrides: dict = dataclasses.field(default_factory=dict)
    train_folds: tuple[int, ...] = (3, 4, 5, 6)
    validation_folds: tuple[int, ...] = (2,)
    test_folds: tuple[int, ...] = (1,)
    label_form: str = "classwise"
    num_tracks: int = 2


@dataclasses.dataclass(frozen=True)
class PipelineSpec:
    """tf.data settings. `train_frames` counts feature frames per training window."""

    train_frames: int = 300
    batch_size: int = 256
    shuffle_buffer: int = 1024
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
    sed_weight: float = 1.0
    doa_weight: float = 1000.0
    pit: str = "none"


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    name: str = "adam"
    weight_decay: float | None = None
    clipnorm: float | None = None


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """Warm-up then piecewise exponential decay, in epochs."""

    initial_learning_rate: float = 1e-3
    warmup_epochs: int = 0
    warmup_learning_rate: float | None = None
    decay_epochs: tuple[int, ...] = ()
    decay_rate: float = 1.0


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    epochs: int = 50
    steps_per_epoch: int | None = None
    seed: int = 0
    validate_every: int = 1


@dataclasses.dataclass(frozen=True)
class EvaluationSpec:
    """Inference: threshold on activity; `segment_frames` (feature frames) splits
    clips into non-overlapping segments, `None` predicts whole clips. `oracle`
    ("sed" or "doa") replaces that task's predictions by the reference in
    validation and evaluation scores, to score the other task alone
    (`seld_tf.evaluation.decode_with_oracle`)."""

    threshold: float = 0.5
    segment_frames: int | None = None
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
            merged[group].update(values)
        return recipe_from_dict(merged)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, found {type(values).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{where}.{name}")
        elif typing.get_origin(hint) is tuple and value is not None:
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where}.{name}: expected a list, found {value!r}")
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{where}: {error}") from None


def recipe_from_dict(values: dict, where: str = "recipe") -> Recipe:
    if "name" not in values:
        raise ConfigError(f"{where}: missing key 'name'")
    return _build(Recipe, values, where)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read a YAML recipe (safe loader); errors name the file and the bad key."""
    with open(path, encoding="utf-8") as handle:
        try:
            values = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return recipe_from_dict(values or {}, where=os.fspath(path))


def save_recipe(recipe: Recipe, path: str | os.PathLike) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(recipe.to_dict(), handle, sort_keys=False)
