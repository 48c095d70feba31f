"""The generic trainer: any recipe of any task, trained with `model.fit`.

`train()` asks the recipe's task (`seld_tf.tasks`) for its data, targets,
model arguments, losses and validation score, builds the model with its
feature scaler at the input, the optimizer, schedule and callbacks, and calls
`model.fit`. It names no task concept itself. Everything a later
`evaluate`/`predict` needs is in the run folder (`seld_tf.runs` describes its
files, how a killed run resumes, and how a run is evaluated).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile

import keras
import tensorflow as tf

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
from seld_tf.models.registry import build_scaled_network
from seld_tf.optimizers import RAdam
from seld_tf.recipes import Recipe, save_recipe
from seld_tf.runs import RunFolder
from seld_tf.schedules import WarmupExponentialDecay
from seld_tf.tasks import Task, prepare_task

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "radam": RAdam}
STRATEGIES = ("default", "mirrored", "multiworker")


def build_task_model(task: Task) -> keras.Model:
    """The recipe's network behind the training features' scaler (`build_scaled_network`),
    wrapped in the task's model class (`Task.functional_model`)."""
    recipe = task.recipe
    mean, scale = task.feature_scaler()
    args = {**task.model_args(), **recipe.model.args}
    inputs, outputs = build_scaled_network(
        recipe.model.name, recipe.model.preset, args, mean, scale, task.input_frames(), recipe.training.precision,
        recipe.model.scaler,
    )
    return task.functional_model(inputs, outputs, name=recipe.name)


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
            rampup_epochs=schedule.rampup_epochs,
        )
    kwargs = {"learning_rate": learning_rate, "clipnorm": spec.clipnorm}
    if spec.weight_decay is not None:
        kwargs["weight_decay"] = spec.weight_decay
    return OPTIMIZERS[spec.name](**kwargs)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The named `tf.distribute` strategy: "default" (one device), "mirrored" (every local
    device) or "multiworker" (every device of the cluster that `TF_CONFIG` describes).

    A multi-worker strategy must be made before TensorFlow runs its first op: it sets up
    the collective runtime, which TensorFlow fixes at startup.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        _check_tf_config(os.environ.get("TF_CONFIG"))
        communication = tf.distribute.experimental.CommunicationImplementation
        implementation = communication.NCCL if tf.config.list_physical_devices("GPU") else communication.RING
        return _MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(implementation=implementation)
        )
    raise ConfigError(f"unknown strategy {name!r}; expected one of {STRATEGIES}")


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` whose `reduce` takes what Keras 3's `fit` hands it.

    With several workers, `fit` reduces a whole batch (a nest, before building the
    model) and each scalar metric with `axis=0`; the strategy's own `reduce` takes
    neither and `fit` fails (keras-team/keras#20585). Each tensor is reduced on its own
    here, a scalar across replicas only, which is what `fit` means by both.
    """

    def reduce(self, reduce_op, value, axis):
        def reduce_one(tensor):
            scalar = self.experimental_local_results(tensor)[0].shape.rank == 0
            return super(_MultiWorkerMirroredStrategy, self).reduce(reduce_op, tensor, None if scalar else axis)

        return tf.nest.map_structure(reduce_one, value)


def _check_tf_config(text: str | None) -> None:
    """Raises a one-line `ConfigError` unless `text` is a TF_CONFIG that places this task in its cluster."""
    see = "see docs/distributed_training.md"
    if not text:
        raise ConfigError(f"--strategy multiworker needs TF_CONFIG, the cluster and this worker's place in it; {see}")
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}); {see}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or set(cluster) - {"chief", "worker"}:
        raise ConfigError(f'TF_CONFIG: "cluster" must map "chief" and/or "worker" to lists of "host:port"; {see}')
    if not all(isinstance(hosts, list) and hosts and all(isinstance(h, str) for h in hosts) for hosts in cluster.values()):
        raise ConfigError(f'TF_CONFIG: every job of "cluster" must list "host:port" addresses; {see}')
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError(f'TF_CONFIG: "cluster" has {len(cluster["chief"])} chiefs; at most one; {see}')
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ConfigError(f'TF_CONFIG: "task" must name this worker\'s job of "cluster" as "type"; {see}')
    index = task.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task["type"]]):
        raise ConfigError(
            f'TF_CONFIG: "task" "index" must be this worker\'s position (0 to {len(cluster[task["type"]]) - 1}) '
            f'in cluster["{task["type"]}"], found {index!r}; {see}'
        )


@contextlib.contextmanager
def _written_folder(run: RunFolder, distribution: tf.distribute.Strategy):
    """The folder this worker writes: the run folder on the chief (the only worker, but for
    multi-worker training), a scratch copy (`RunFolder.worker_copy`) deleted afterwards on
    every other worker.

    The other workers still write everything the chief writes (Keras's multi-worker pattern),
    so that every worker runs the same TensorFlow ops in the same order, as collective ops
    need: a save that read a variable synced across workers would otherwise leave the
    others waiting.
    """
    if distribution.extended.should_checkpoint:
        yield run
        return
    with tempfile.TemporaryDirectory(prefix="seld_tf_worker_") as scratch:
        yield run.worker_copy(scratch)


def _check_same_start(distribution: tf.distribute.Strategy, run: RunFolder) -> None:
    """Raises `RunError` unless every worker resumes after the same number of epochs.

    A worker that does not see the chief's run folder (no shared filesystem) would start
    from scratch beside a resuming chief, and the two would average gradients of different
    models.
    """
    if not isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy):
        return
    local = run.committed_epochs()
    per_replica = distribution.experimental_distribute_values_from_function(lambda _: tf.constant([local]))
    starts = set(distribution.gather(per_replica, axis=0).numpy().tolist())
    if len(starts) > 1:
        raise RunError(
            f"the workers resume after different numbers of epochs ({sorted(starts)}): every worker "
            f"must see the chief's run folder at the same path, on a shared filesystem"
        )


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
    (so they see the validation scores in the logs). `strategy` names a
    `make_strategy` strategy; with "multiworker" every worker calls `train`
    alike and only the chief writes `run_dir` (docs/distributed_training.md).
    """
    # Before any other TensorFlow op (`make_strategy`).
    distribution = make_strategy(strategy)
    chief_run = RunFolder(run_dir)
    if chief_run.finished:
        raise RunError(f"{chief_run.path} holds a finished run; choose another --out")
    if epochs is not None:
        recipe = recipe.replace(training={"epochs": epochs})
    with _written_folder(chief_run, distribution) as run:
        keras.utils.set_random_seed(recipe.training.seed)
        task = prepare_task(recipe, data_dir, cache_dir, progress=progress, log=log)
        run.path.mkdir(parents=True, exist_ok=True)
        save_recipe(recipe, run.path / "recipe.yaml")
        write_json(run.path / "run.json", task.record())

        compile_kwargs, label_transform = task.compile_args()
        train_data, steps_per_epoch = task.train_dataset(label_transform)
        # `pipeline.batch_size` is the global batch: with several workers, each builds the same
        # seeded pipeline and keeps its replicas' slices of every batch, as one worker's replicas
        # split it. AUTO would first look for files to shard, and the windows come from no file.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_data = train_data.with_options(options)
        with distribution.scope():
            model = build_task_model(task)
            model.compile(optimizer=make_optimizer(recipe, steps_per_epoch), **compile_kwargs)

        evaluator = task.evaluator("validation", label_transform)
        checkpoint = AtomicModelCheckpoint(run.path, monitor=task.monitor, mode=task.mode)
        best = run.prepare(task.monitor, task.mode)
        if best is not None:
            # Otherwise the first epoch after a restart would count as an improvement.
            checkpoint.best = best
        _check_same_start(distribution, run)
        # The order is the order of an epoch's end: validation writes the scores
        # the others read; the history row and the snapshot candidate are written
        # before the backup records the epoch, and the candidate is promoted after.
        # Every worker validates: Keras gathers predictions from all workers, and
        # the scores steer the learning rate and the task's callbacks everywhere.
        plateau = recipe.schedule.plateau
        callbacks = [
            Validation(evaluator, every=recipe.training.validate_every),
            *task.callbacks(),
            *([keras.callbacks.ReduceLROnPlateau(monitor=task.monitor, mode=task.mode, **plateau)] if plateau is not None else []),
            RaiseOnNonFiniteLoss(os.fspath(chief_run.best)),
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
