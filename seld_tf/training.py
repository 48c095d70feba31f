"""The generic trainer: any recipe of any task, trained with `model.fit`.

`train()` asks the recipe's task (`seld_tf.tasks`) for its data, targets,
model arguments, losses and validation score, builds the model with its
feature scaler at the input, the optimizer, schedule and callbacks, and calls
`model.fit`. It names no task concept itself. Everything a later
`evaluate`/`predict` needs is in the run folder (`seld_tf.runs` describes its
files, how a killed run resumes, and how a run is evaluated).
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np

from seld_tf.callbacks import (
    AtomicBackupAndRestore,
    AtomicModelCheckpoint,
    CommitSnapshot,
    RaiseOnNonFiniteLoss,
    Validation,
)
from seld_tf.errors import ConfigError, RunError
from seld_tf.faults import kill_point
from seld_tf.fileio import write_json
from seld_tf.models.registry import build_model
from seld_tf.optimizers import RAdam
from seld_tf.recipes import Recipe, save_recipe
from seld_tf.runs import RunFolder
from seld_tf.schedules import WarmupExponentialDecay
from seld_tf.tasks import Task, prepare_task

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "radam": RAdam}
STRATEGIES = ("default", "mirrored", "multiworker")


def build_task_model(task: Task) -> keras.Model:
    """The recipe's model with the training features' scaler as its first layer.

    The scaler lives in the model so that a saved or exported model takes raw
    features, as the feature extractor writes them.
    """
    recipe = task.recipe
    mean, scale = task.feature_scaler()
    input_shape = (task.input_frames(), *mean.shape)
    args = {**task.model_args(), **recipe.model.args}
    core = build_model(recipe.model.name, recipe.model.preset, input_shape=input_shape, **args)
    inputs = keras.Input(input_shape, name="features")
    scaled = keras.layers.Normalization(axis=(-2, -1), mean=mean, variance=np.square(scale), name="feature_scaler")(inputs)
    return keras.Model(inputs, core(scaled), name=recipe.name)


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    spec, schedule = recipe.optimizer, recipe.schedule
    if spec.name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {spec.name!r}; expected one of {sorted(OPTIMIZERS)}")
    if schedule.plateau is not None:
        # ReduceLROnPlateau sets the optimizer's rate variable, which a schedule would not have.
        learning_rate = schedule.initial_learning_rate
    else:
        learning_rate = WarmupExponentialDecay(
            initial_learning_rate=schedule.initial_learning_rate,
            steps_per_epoch=steps_per_epoch,
            decay_epochs=schedule.decay_epochs,
            decay_rate=schedule.decay_rate,
            warmup_epochs=schedule.warmup_epochs,
            warmup_learning_rate=schedule.warmup_learning_rate,
        )
    kwargs = {"learning_rate": learning_rate, "clipnorm": spec.clipnorm}
    if spec.weight_decay is not None:
        kwargs["weight_decay"] = spec.weight_decay
    return OPTIMIZERS[spec.name](**kwargs)


def make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")


def train(
    recipe: Recipe,
    data_dir,
    run_dir,
    *,
    epochs: int | None = None,
    strategy: str = "default",
    cache_dir=None,
    verbose: int = 2,
    progress: bool = True,
    extra_callbacks: tuple = (),
    log=print,
) -> keras.callbacks.History:
    """Train `recipe` on the dataset folder `data_dir` (in its task's layout); outputs go to `run_dir`.

    A run killed at any moment resumes when called again with the same
    arguments (`seld_tf.runs`). `extra_callbacks` run after the package's own
    (so they see the validation scores in the logs).
    """
    run = RunFolder(run_dir)
    if run.finished:
        raise RunError(f"{run.path} holds a finished run; choose another --out")
    if epochs is not None:
        recipe = recipe.replace(training={"epochs": epochs})
    keras.utils.set_random_seed(recipe.training.seed)
    task = prepare_task(recipe, data_dir, cache_dir, progress=progress, log=log)
    run.path.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, run.path / "recipe.yaml")
    write_json(run.path / "run.json", task.record())

    compile_kwargs, label_transform = task.compile_args()
    train_data, steps_per_epoch = task.train_dataset(label_transform)
    with make_strategy(strategy).scope():
        model = build_task_model(task)
        model.compile(optimizer=make_optimizer(recipe, steps_per_epoch), **compile_kwargs)

    evaluator = task.evaluator("validation", label_transform)
    checkpoint = AtomicModelCheckpoint(run.path, monitor=task.monitor, mode=task.mode)
    best = run.prepare(task.monitor, task.mode)
    if best is not None:
        # Otherwise the first epoch after a restart would count as an improvement.
        checkpoint.best = best
    # The order is the order of an epoch's end: validation writes the scores
    # the others read; the history row and the snapshot candidate are written
    # before the backup records the epoch, and the candidate is promoted after.
    plateau = recipe.schedule.plateau
    callbacks = [
        Validation(evaluator, every=recipe.training.validate_every),
        *task.callbacks(),
        *([keras.callbacks.ReduceLROnPlateau(monitor=task.monitor, mode=task.mode, **plateau)] if plateau is not None else []),
        RaiseOnNonFiniteLoss(os.fspath(run.best)),
        keras.callbacks.CSVLogger(os.fspath(run.history), append=True),
        checkpoint,
        AtomicBackupAndRestore(run.backup),
        CommitSnapshot(run.path),
        keras.callbacks.TensorBoard(os.fspath(run.path / "tensorboard"), write_graph=False),
        *extra_callbacks,
    ]
    history = model.fit(
        train_data,
        epochs=recipe.training.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
        # The tf.data pipeline shuffles (seeded); Keras cannot shuffle a dataset and warns if asked.
        shuffle=False,
    )
    partial = run.path / "last.partial.keras"
    model.save(partial)
    kill_point("final_save", writing=partial)
    os.replace(partial, run.last)
    summary = {"epochs": recipe.training.epochs, "monitor": task.monitor, "best": _finite_or_none(checkpoint.best)}
    run.mark_finished(summary)
    return history


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
