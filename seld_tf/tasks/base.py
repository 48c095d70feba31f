"""The task: everything that differs between SELD, scene + event detection,
semi-supervised SED and weak tagging, behind one contract that the generic
trainer, evaluator and run-folder code ask and never look behind.

A recipe names its task (`task: seld`, the default); the task owns the
recipe groups `data`, `loss` and `evaluation` (their schema is the task's),
reads its dataset, builds targets, names the model's arguments, compiles the
losses, decodes and scores predictions, writes official output files, and
says which validation score keeps the best snapshot (`monitor`, `mode`).
"""

from __future__ import annotations

import abc
import importlib
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, NamedTuple, Sequence

import numpy as np

from seld_tf.errors import ConfigError
from seld_tf.features.config import FeatureConfig
from seld_tf.pipeline import ClipRecord, TargetSpec

# Registered task names -> "module:Class". A recipe may also name any task
# class by its import path ("my_package.tasks:MyTask").
TASKS = {
    "seld": "seld_tf.tasks.seld:SeldTask",
    "scene_event": "seld_tf.tasks.scene_event:SceneEventTask",
    "desed_sed": "seld_tf.tasks.desed_sed:DesedSedTask",
    "weak_tagging": "seld_tf.tasks.weak_tagging:WeakTaggingTask",
}


def task_class(name: str) -> type["Task"]:
    """The task class a recipe's `task:` names."""
    path = TASKS.get(name, name)
    module_name, _, class_name = path.partition(":")
    if not class_name:
        raise ConfigError(f"unknown task {name!r}; registered tasks: {sorted(TASKS)}, or a 'module:Class' path")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"task {name!r}: cannot import {path} ({error})") from None
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ConfigError(f"task {name!r}: {path} is not a seld_tf.tasks.Task subclass")
    return cls


def prepare_task(recipe, data_dir, cache_dir=None, *, progress: bool = True, log=print) -> "Task":
    """The recipe's task, prepared on `data_dir`."""
    task = task_class(recipe.task)(recipe)
    task.prepare(data_dir, cache_dir, progress=progress, log=log)
    return task


class FeatureFrontEnd(NamedTuple):
    """How audio becomes a model's input: `compute_features_tf(audio, config, array_format)`,
    whose frame axis the model pools by `frames_per_label`."""

    config: FeatureConfig
    array_format: str
    frames_per_label: int


class Task(abc.ABC):
    """One kind of problem, prepared on one dataset folder.

    Subclasses set the class attributes and implement the abstract methods.
    Constructing one only binds the recipe (enough to predict and decode);
    `prepare` reads a dataset folder and extracts (or reuses) its features,
    which the data and evaluation methods need.

    Class attributes:
        groups: the recipe groups the task owns, name -> dataclass (its
            fields are the group's keys; unknown keys are errors).
        monitor: the logged validation score that keeps the best snapshot.
        mode: "min" or "max": whether a lower or higher `monitor` is better.
        pipeline_augmentations: the `pipeline` augmentation keys that
            `augmentations` applies (`seld_tf.recipes.PipelineSpec`).
    """

    groups: ClassVar[Mapping[str, type]] = {}
    pipeline_augmentations: ClassVar[tuple[str, ...]] = ()
    monitor: ClassVar[str] = "val_loss"
    mode: ClassVar[str] = "min"

    def __init__(self, recipe):
        self.recipe = recipe

    @abc.abstractmethod
    def prepare(self, data_dir: str | os.PathLike, cache_dir=None, *, progress: bool = True, log=print) -> None:
        """Open the dataset folder and extract (or reuse) its features into `cache_dir` (or a default)."""

    # -- data -------------------------------------------------------------

    frames_per_label: int
    """Feature frames per frame of the frame-rate targets (the model's time pooling)."""

    @abc.abstractmethod
    def clips(self, split: str, with_targets: bool = True) -> tuple[list[ClipRecord], Sequence[Any] | None]:
        """`(clip records, references)` of a split; references are what `Evaluator.score`
        compares with, None for an unlabelled split (or `with_targets=False`)."""

    # The defaults below serve the usual task, whose `prepare` sets `data_dir`,
    # `feature_config` and `cache` (a `seld_tf.features.extract.FeatureCache`).

    def feature_scaler(self) -> tuple[np.ndarray, np.ndarray]:
        """`(mean, scale)` of the training features, each `[bins, channels]`."""
        return self.cache.scaler()

    def record(self) -> dict:
        """JSON-serialisable facts a later evaluation needs (written to `run.json`)."""
        return {
            "data_dir": os.fspath(Path(self.data_dir).resolve()),
            "cache_dir": os.fspath(self.cache.root.resolve()),
            "frames_per_label": self.frames_per_label,
            "feature_config": self.feature_config.to_dict(),
        }

    def targets(self) -> Mapping[str, TargetSpec] | None:
        """Every target the model trains on, by name, when some clips may lack some of
        them (filled, with sample weight 0); None: every clip has every target."""
        return None

    def train_dataset(self, label_transform: Callable | None):
        """`(tf.data.Dataset of training batches, steps per epoch)`.

        Random windows of the "train" split; or, when the recipe's
        `pipeline.subsets` names per-batch counts of several splits, batches
        mixing them (`make_multi_subset_dataset`), an epoch being one pass of
        `pipeline.epoch_subset`.
        """
        from seld_tf.pipeline import make_multi_subset_dataset, make_train_dataset

        recipe = self.recipe
        common = dict(
            window_frames=recipe.pipeline.train_frames,
            frames_per_label=self.frames_per_label,
            seed=recipe.training.seed,
            targets=self.targets(),
            augment=self.augmentations() or None,
            label_transform=label_transform,
        )
        if recipe.pipeline.subsets:
            subsets = {name: self.clips(name)[0] for name in recipe.pipeline.subsets}
            return make_multi_subset_dataset(
                subsets, recipe.pipeline.subsets, epoch_subset=recipe.pipeline.epoch_subset, **common
            )
        clips, _ = self.clips("train")
        dataset = make_train_dataset(clips, batch_size=recipe.pipeline.batch_size, **common)
        steps = recipe.training.steps_per_epoch or int(dataset.cardinality())
        if steps < 1:
            raise ConfigError(
                f"no full training batch: {len(clips)} clips give fewer windows than batch_size "
                f"{recipe.pipeline.batch_size}; lower pipeline.batch_size or pipeline.train_frames"
            )
        if recipe.training.steps_per_epoch:
            dataset = dataset.repeat()
        return dataset, steps

    def augmentations(self) -> list:
        """Training-only augmentations, in order (see `make_train_dataset`)."""
        return []

    # -- model ------------------------------------------------------------

    def model_args(self) -> dict:
        """Builder arguments the task fixes (class and scene counts, tracks)."""
        return {}

    def input_frames(self) -> int | None:
        """The fixed number of feature frames of the model's input (e.g. whole clips of one length
        for a model with Dense layers over time); None: any number."""
        return None

    def functional_model(self, inputs, outputs, name: str):
        """The trained model over the network's `inputs` and `outputs` (`build_task_model`): a plain
        functional model, or a `keras.Model` subclass whose training step differs (e.g. a loss with
        trainable terms)."""
        import keras

        return keras.Model(inputs, outputs, name=name)

    def callbacks(self) -> list:
        """Training callbacks of the task (e.g. loss weights that adapt between epochs), called after
        `compile_args`; they run after validation, before the history row is written."""
        return []

    @abc.abstractmethod
    def compile_args(self) -> tuple[dict, Callable | None]:
        """`(model.compile keyword arguments, label transform)`; the transform maps
        the pipeline's targets to the compiled losses' (None: identity)."""

    # -- evaluation -------------------------------------------------------

    @abc.abstractmethod
    def evaluator(self, split: str, label_transform: Callable | None = None):
        """A `seld_tf.evaluation.Evaluator` of the split's clips."""

    @abc.abstractmethod
    def write_outputs(self, predictions: Mapping[str, Any], out_dir: str | os.PathLike) -> None:
        """Official output files of decoded predictions, one per clip name."""

    @abc.abstractmethod
    def predict_audio(self, model, audio_path: str | os.PathLike, record: dict) -> Any:
        """The decoded prediction of one audio file (features computed as the cache computes them)."""

    @abc.abstractmethod
    def write_prediction(self, prediction: Any, out_path: str | os.PathLike) -> None:
        """The official output file of one decoded prediction."""

    def inference_model(self, model):
        """The model an export serves, given the run's best snapshot: `model` itself by default. A task whose
        training model has training-only outputs (logits, reconstructions, KL terms) may return one without them."""
        return model

    def feature_front_end(self, record: dict) -> FeatureFrontEnd:
        """The features the model of a run with this `record` was trained on (the export's audio signature)."""
        raise ConfigError(f"task {type(self).__name__} does not say how audio becomes its model's features")
