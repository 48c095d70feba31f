"""tf.data input pipelines: random training windows, whole-clip or segmented evaluation.

Features are read from the feature cache (one `float32 [frames, bins,
channels]` `.npy` per clip) window by window with memory mapping, so a
dataset never has to fit in memory. They are yielded raw: normalisation is
the model's first layer. Targets are held in memory (they are small) as dicts
keyed by the model's output names, at one of two rates:

- frame targets `[T, ...]`, at the rate of the model's frame outputs: a model
  pools time by an integer `frames_per_label`, so these run at `feature rate
  / frames_per_label` (16000 / 256 / 4 = 15.625 Hz, 32000 / 1024 / 1 = 31.25
  Hz, 24000 / 480 / 5 = 10 Hz) and `T = ceil(feature frames /
  frames_per_label)`. A window of `W` feature frames starts on a label-frame
  boundary and carries `W / frames_per_label` of them.
- clip targets (no time axis, e.g. a scene one-hot or weak tags), carried
  whole into every window of their clip.

A clip may lack some targets (weak clips have no frame targets, unlabelled
clips none). Given the `TargetSpec`s a model trains on, the pipeline fills a
missing target with zeros and yields per-target sample weights, 0 for filled
ones, which Keras applies to each output's compiled loss.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import tempfile
import threading
from typing import Callable, Collection, Literal, Mapping, NamedTuple, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from seld_tf.errors import ConfigError

# np.load parses a .npy header with ast.literal_eval, which CPython 3.11 can fail in concurrent
# threads ("SystemError: AST constructor recursion depth mismatch", python/cpython#106905); tf.data
# calls `read` from several threads. Only the opening is serialised, not the reading.
_NPY_HEADER_LOCK = threading.Lock()

Labels = Mapping[str, tf.Tensor]
# A Keras layer augments the features only (called with training=True); any
# other callable maps (features, labels) -> (features, labels), or, when it
# has `takes_sample_weights = True` and the batches carry sample weights,
# (features, labels, weights) -> (features, labels, weights).
Augmentation = Union[keras.layers.Layer, Callable[[tf.Tensor, Labels], tuple[tf.Tensor, Labels]]]
TARGET_RATES = ("frame", "clip")


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """One target a model trains on.

    Attributes:
        rate: "frame" (one value per label frame, held in `ClipRecord.labels`)
            or "clip" (one per clip, held in `ClipRecord.clip_labels`).
        shape: the target's shape without a time axis, e.g. `(K,)`.

    Raises:
        ConfigError: an unknown `rate`, or a `shape` that is not a tuple of
            positive integers.
    """

    rate: Literal["frame", "clip"]
    shape: tuple[int, ...]

    def __post_init__(self):
        if self.rate not in TARGET_RATES:
            raise ConfigError(f"target rate: expected one of {list(TARGET_RATES)}, found {self.rate!r}")
        if not isinstance(self.shape, Sequence) or not all(_is_positive_int(size) for size in self.shape):
            raise ConfigError(f"target shape: expected a tuple of positive integers, found {self.shape!r}")
        # Specs are compared with the ones inferred from clips: (2,) must equal [2] and (np.int64(2),).
        object.__setattr__(self, "shape", tuple(int(size) for size in self.shape))


@dataclasses.dataclass(frozen=True, eq=False)
class ClipRecord:
    """One clip as the pipeline sees it.

    Attributes:
        name: clip name (the feature file's stem).
        feature_path: cached features, `float32 [frames, bins, channels]` `.npy`.
        labels: frame targets keyed by model output name, each `[T, ...]`
            with `T = ceil(frames / frames_per_label)` label frames, e.g.
            `{"strong": [T, K]}`. Empty for a clip without frame targets.
        clip_labels: clip targets keyed by model output name, each without
            a time axis, e.g. `{"scene": [S], "weak": [K]}`.
    """

    name: str
    feature_path: str
    labels: Mapping[str, np.ndarray]
    clip_labels: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)


class Segment(NamedTuple):
    """A piece of a clip in an evaluation dataset: features `[start, start + length)`, zero-padded past the end."""

    clip_index: int
    start: int
    length: int


def _check_multiple(name: str, value: int, frames_per_label: int) -> None:
    if not _is_positive_int(value) or value % frames_per_label:
        raise ConfigError(
            f"{name}: expected a positive multiple of frames_per_label ({frames_per_label}), found {value!r}"
        )


def _is_positive_int(value) -> bool:
    # bool is an int subclass; `true` in a recipe is a typo, not a size.
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= 1


def _clip_targets(clip: ClipRecord) -> dict[str, TargetSpec]:
    """The target specs a clip's own labels imply."""
    both = sorted(set(clip.labels) & set(clip.clip_labels))
    if both:
        raise ConfigError(f"clip {clip.name}: targets {both} are in both labels and clip_labels")
    for name, value in clip.labels.items():
        if np.ndim(value) == 0:
            raise ConfigError(f"clip {clip.name}: labels[{name!r}] has no time axis; clip targets go in clip_labels")
    try:
        return {
            **{name: TargetSpec("frame", np.shape(value)[1:]) for name, value in clip.labels.items()},
            **{name: TargetSpec("clip", np.shape(value)) for name, value in clip.clip_labels.items()},
        }
    except ConfigError as error:
        raise ConfigError(f"clip {clip.name}: {error}") from None


def _without_targets(clips: Sequence[ClipRecord]) -> list[ClipRecord]:
    return [dataclasses.replace(clip, labels={}, clip_labels={}) for clip in clips]


class _ClipReader:
    """Reads zero-padded feature/target windows of a list of clips (validated on construction).

    With `targets` None, the first clip's labels define them and every clip
    must have them all. With `targets` given, a clip may lack any: it is
    filled with zeros, and windows carry sample weights, 1 where the clip had
    the target and 0 where it was filled.

    Attributes:
        targets: target specs by name, in name order (the order of `read`).
        weighted: whether windows carry sample weights (`targets` was given).
        num_frames: feature frames per clip.
        num_label_frames: label frames per clip.
    """

    def __init__(
        self, clips: Sequence[ClipRecord], frames_per_label: int, targets: Mapping[str, TargetSpec] | None = None
    ):
        if not _is_positive_int(frames_per_label):
            raise ConfigError(f"frames_per_label: expected a positive integer, found {frames_per_label!r}")
        if not clips:
            raise ConfigError("expected at least one clip, found none")
        self.clips = list(clips)
        self.frames_per_label = frames_per_label
        self.weighted = targets is not None
        for name, spec in (targets or {}).items():
            if not isinstance(spec, TargetSpec):
                raise ConfigError(f"targets[{name!r}]: expected a TargetSpec, found {spec!r}")
        self.targets = dict(sorted((_clip_targets(self.clips[0]) if targets is None else targets).items()))
        # mmap reads only the header: cheap even for a whole dataset.
        self.feature_shape = np.load(self.clips[0].feature_path, mmap_mode="r").shape[1:]
        self.num_frames = np.zeros(len(self.clips), dtype=np.int64)
        self.num_label_frames = np.zeros(len(self.clips), dtype=np.int64)
        for index, clip in enumerate(self.clips):
            self.num_frames[index], self.num_label_frames[index] = self._inspect(clip)

    def _inspect(self, clip: ClipRecord) -> tuple[int, int]:
        """Check a clip's features against the first clip's and its labels against the targets; its lengths."""
        shape = np.load(clip.feature_path, mmap_mode="r").shape
        if len(shape) != 3:
            raise ConfigError(f"{clip.feature_path}: expected features [frames, bins, channels], found shape {shape}")
        if shape[1:] != self.feature_shape:
            raise ConfigError(
                f"{clip.feature_path}: expected features [frames, {self.feature_shape[0]}, {self.feature_shape[1]}] "
                f"like {self.clips[0].feature_path}, found shape {shape}"
            )
        num_label_frames = math.ceil(shape[0] / self.frames_per_label)
        found = _clip_targets(clip)
        unknown = set(found) - set(self.targets)
        if unknown or (not self.weighted and len(found) != len(self.targets)):
            raise ConfigError(f"clip {clip.name}: expected targets {list(self.targets)}, found {sorted(found)}")
        for name, spec in found.items():
            expected = self.targets[name]
            if spec.rate != expected.rate:
                where = "labels" if expected.rate == "frame" else "clip_labels"
                raise ConfigError(f"clip {clip.name}: {name!r} is a {expected.rate} target, expected in {where}")
            if spec.rate == "clip" and spec.shape != expected.shape:
                raise ConfigError(
                    f"clip {clip.name}: expected clip_labels[{name!r}] of shape {expected.shape}, found {spec.shape}"
                )
            if spec.rate == "frame" and np.shape(clip.labels[name]) != (num_label_frames, *expected.shape):
                raise ConfigError(
                    f"clip {clip.name}: expected labels[{name!r}] of shape {(num_label_frames, *expected.shape)} "
                    f"(ceil({shape[0]} frames / {self.frames_per_label})), found {np.shape(clip.labels[name])}"
                )
        return shape[0], num_label_frames

    def read(self, clip_index: np.ndarray, start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, ...]:
        """Features `[length, F, C]` from feature frame `start`, then each target in name order (frame targets
        `[length / frames_per_label, ...]` from label frame `start / frames_per_label`, clip targets whole),
        then, if `weighted`, `[len(targets)]`: 1 per target the clip has, 0 per filled one."""
        clip = self.clips[int(clip_index)]
        start, length = int(start), int(length)
        features = np.zeros((length, *self.feature_shape), dtype=np.float32)
        with _NPY_HEADER_LOCK:
            mapped = np.load(clip.feature_path, mmap_mode="r")
        window = mapped[start : start + length]
        features[: len(window)] = window
        label_start, label_length = start // self.frames_per_label, length // self.frames_per_label
        targets, present = [], []
        for name, spec in self.targets.items():
            if spec.rate == "frame":
                target = np.zeros((label_length, *spec.shape), dtype=np.float32)
                value = clip.labels.get(name)
                if value is not None:
                    window = value[label_start : label_start + label_length]
                    target[: len(window)] = window
            else:
                value = clip.clip_labels.get(name)
                target = np.zeros(spec.shape, np.float32) if value is None else np.asarray(value, np.float32)
            targets.append(target)
            present.append(value is not None)
        weights = [np.array(present, dtype=np.float32)] if self.weighted else []
        return (features, *targets, *weights)

    def read_tf(self, clip_index: tf.Tensor, start: tf.Tensor, length: tf.Tensor, static_length: int | None) -> tuple:
        """`read` as a tf.data map function: `(features, {name: target})`, plus `{name: sample weight
        [1, ..., 1]}` if `weighted`; `static_length` (feature frames) fixes the time axis when known."""
        num_outputs = 1 + len(self.targets) + self.weighted
        outputs = tf.numpy_function(
            self.read, [clip_index, start, length], [tf.float32] * num_outputs, stateful=False
        )
        label_length = None if static_length is None else static_length // self.frames_per_label
        features = tf.ensure_shape(outputs[0], (static_length, *self.feature_shape))
        targets = {
            name: tf.ensure_shape(value, (label_length, *spec.shape) if spec.rate == "frame" else spec.shape)
            for (name, spec), value in zip(self.targets.items(), outputs[1:])
        }
        if not self.weighted:
            return features, targets
        present = tf.ensure_shape(outputs[-1], (len(self.targets),))
        # One axis fewer than the target, as the unreduced values of Keras's
        # standard losses (which average the last axis): Keras multiplies the
        # two, and a weight of another rank would not broadcast per example.
        weights = {
            name: tf.reshape(present[index], (1,) * max(len(targets[name].shape) - 1, 0))
            for index, name in enumerate(self.targets)
        }
        return features, targets, weights


def _random_windows(
    reader: _ClipReader,
    window_frames: int,
    *,
    seed: int,
    shuffle: bool = True,
    windows_per_clip: int | None = None,
    repeat: bool = False,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
) -> tuple[tf.data.Dataset, int]:
    """Unbatched random windows of `reader`'s clips (one pass, or endless with `repeat`) and the windows per pass.

    A pass holds `windows_per_clip` windows of every clip (None: `ceil(clip
    frames / W)`). Each starts on a label-frame boundary, uniformly among the
    starts that keep it inside the clip; a clip shorter than the window gives
    its start, zero-padded. Starts, and the order with `shuffle`, are drawn
    from `seed` afresh each pass.
    """
    frames_per_label = reader.frames_per_label
    _check_multiple("window_frames", window_frames, frames_per_label)
    if windows_per_clip is None:
        counts = -(-reader.num_frames // window_frames)
    else:
        counts = np.full(len(reader.clips), windows_per_clip)
    clip_index = np.repeat(np.arange(len(reader.clips)), counts)
    window_labels = window_frames // frames_per_label
    num_starts = tf.constant(np.maximum(reader.num_label_frames - window_labels, 0) + 1)

    def window(index: tf.Tensor, random: tf.Tensor) -> tuple:
        start = (random % tf.gather(num_starts, index)) * frames_per_label
        return reader.read_tf(index, start, tf.constant(window_frames, tf.int64), window_frames)

    dataset = tf.data.Dataset.from_tensor_slices(clip_index)
    if shuffle:
        dataset = dataset.shuffle(len(clip_index), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        # After the shuffle, so that every pass has its own order.
        dataset = dataset.repeat()
    # The start positions' randomness is part of each element, so reading in
    # parallel cannot reorder the draws.
    randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, randoms).map(window, num_parallel_calls=num_parallel_calls)
    return dataset, len(clip_index)


def _augmentation_fn(augment: Augmentation | Sequence[Augmentation]) -> Callable:
    steps = list(augment) if isinstance(augment, Sequence) else [augment]

    def apply(features: tf.Tensor, labels: Labels, *weights) -> tuple:
        for step in steps:
            if isinstance(step, keras.layers.Layer):
                features = step(features, training=True)
            elif weights and getattr(step, "takes_sample_weights", False):
                # Mixing examples changes which targets are present (e.g. `Mixup`).
                features, labels, sample_weights = step(features, labels, *weights)
                weights = (sample_weights,)
            else:
                features, labels = step(features, labels)
        return (features, labels, *weights)

    return apply


def _label_transform_fn(label_transform: Callable[[Labels], Labels]) -> Callable:
    def apply(features: tf.Tensor, labels: Labels, *weights) -> tuple:
        transformed = label_transform(labels)
        # Keras pairs sample weights with outputs by name: keep those of the transformed targets only.
        return (features, transformed, *({name: w[name] for name in transformed if name in w} for w in weights))

    return apply


def _finish(
    batches: tf.data.Dataset,
    augment: Augmentation | Sequence[Augmentation] | None,
    label_transform: Callable[[Labels], Labels] | None,
    num_parallel_calls: int | None,
) -> tf.data.Dataset:
    if augment is not None:
        # Sequential on purpose: augmentations draw from stateful seed
        # generators, and parallel calls would consume their draws in a
        # nondeterministic order.
        batches = batches.map(_augmentation_fn(augment))
    if label_transform is not None:
        batches = batches.map(_label_transform_fn(label_transform), num_parallel_calls=num_parallel_calls)
        if len(batches.element_spec) == 3:
            _, targets, weights = batches.element_spec
            unweighted = sorted(set(targets) - set(weights))
            if unweighted:
                raise ConfigError(
                    f"label_transform: outputs {unweighted} are not targets, so they have no sample weights; "
                    f"with targets given, the transform may change or drop targets but not add or rename them"
                )
    return batches.prefetch(tf.data.AUTOTUNE)


def make_train_dataset(
    clips: Sequence[ClipRecord],
    *,
    window_frames: int,
    frames_per_label: int,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    targets: Mapping[str, TargetSpec] | None = None,
    augment: Augmentation | Sequence[Augmentation] | None = None,
    label_transform: Callable[[Labels], Labels] | None = None,
    windows_per_clip: int | None = None,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Batches of random training windows: `(features [B, W, F, C], targets)`, or, with `targets` given,
    `(features, targets, sample_weights)`.

    `targets` maps names to frame targets `[B, W / frames_per_label, ...]`
    and clip targets `[B, ...]`. `sample_weights` maps the same names to
    float32 `[B, 1, ..., 1]`, with one axis fewer than the target (`[B]` for
    a clip target `[B, K]`, `[B, 1]` for a frame target `[B, T, K]`): 1 where
    the window's clip had the target, 0 where it was filled with zeros. Keras
    takes them as per-output sample weights and multiplies them into each
    loss's unreduced values, so a filled target adds nothing to its loss.
    Its standard losses (averaging the last axis) give values of the weights'
    rank; a custom loss must return values of that rank or one axis fewer
    (e.g. `[B]`). The default "sum_over_batch_size" reduction still divides
    by the number of values; "mean_with_sample_weight" divides by the
    weights' sum.

    Each window starts on a label-frame boundary, uniformly among the starts
    that keep it inside the clip; a clip shorter than the window gives one
    window from its start, zero-padded (features and frame targets). An epoch
    holds `windows_per_clip` windows of every clip, and the start positions
    and the order are drawn afresh each epoch, from `seed`: two datasets built
    with the same arguments yield the same sequence. Incomplete last batches
    are dropped.

    Args:
        clips: training clips.
        window_frames: W, in feature frames; a multiple of `frames_per_label`.
        frames_per_label: feature frames per label frame (the model's time pooling).
        batch_size: B.
        seed: seed of the window order and start positions.
        shuffle: shuffle the windows of an epoch; otherwise clip order.
        targets: the targets to yield, by name; a clip may lack any of them.
            None: the first clip's labels and clip labels, which every clip
            must have, and no sample weights.
        augment: an augmentation or a sequence of them, applied in order to
            each batch: a Keras layer acts on the features (called with
            `training=True`, e.g. `SpecAugment`); any other callable maps
            `(features, targets) -> (features, targets)` (e.g. `FoaRotation`).
            Their own seeds make them reproducible.
        label_transform: maps the targets dict of a batch to the model's
            targets, after augmentation (e.g. to merge outputs). With
            `targets` given it may change targets' values or drop targets,
            but each output it returns must be a target of the same rank
            (its sample weights are the target's).
        windows_per_clip: windows per clip per epoch; None: `ceil(clip frames
            / W)`, enough to cover each clip once.
        num_parallel_calls: parallelism of the feature reads.

    Raises:
        ConfigError: `window_frames` is not a multiple of `frames_per_label`,
            the clips disagree with each other, with `targets` or with their
            labels' length, `batch_size` or `windows_per_clip` is not a
            positive integer, `label_transform` adds outputs with `targets`
            given, or an epoch has fewer windows than `batch_size`.
    """
    reader = _ClipReader(clips, frames_per_label, targets)
    if not _is_positive_int(batch_size):
        raise ConfigError(f"batch_size: expected a positive integer, found {batch_size!r}")
    if windows_per_clip is not None and not _is_positive_int(windows_per_clip):
        raise ConfigError(f"windows_per_clip: expected a positive integer or None, found {windows_per_clip!r}")
    windows, num_windows = _random_windows(
        reader,
        window_frames,
        seed=seed,
        shuffle=shuffle,
        windows_per_clip=windows_per_clip,
        num_parallel_calls=num_parallel_calls,
    )
    if num_windows < batch_size:
        raise ConfigError(f"expected at least batch_size ({batch_size}) windows per epoch, found {num_windows}")
    return _finish(windows.batch(batch_size, drop_remainder=True), augment, label_transform, num_parallel_calls)


def make_multi_subset_dataset(
    subsets: Mapping[str, Sequence[ClipRecord]],
    counts: Mapping[str, int],
    *,
    epoch_subset: str,
    window_frames: int,
    frames_per_label: int,
    seed: int,
    targets: Mapping[str, TargetSpec],
    augment: Augmentation | Sequence[Augmentation] | None = None,
    label_transform: Callable[[Labels], Labels] | None = None,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
) -> tuple[tf.data.Dataset, int]:
    """Endless batches mixing several subsets in fixed numbers, and the steps of an epoch.

    Each batch is `(features [B, W, F, C], targets, sample_weights)` as from
    `make_train_dataset` with `targets`, with `B = sum(counts.values())`: the
    windows of each subset form one slice, in the order of `counts`; e.g.
    `{"strong": 32, "weak": 32, "unlabelled": 32}` puts strong windows in rows
    0-31, weak ones in 32-63 and unlabelled ones in 64-95. Each subset is an
    endless stream of random windows drawn as by `make_train_dataset`
    (`ceil(clip frames / W)` windows of every clip per pass), in a new order
    and with new starts each pass, seeded by a seed derived from `seed` and
    the subset's position in `counts`: two datasets built with the same
    arguments yield the same batches.

    An epoch is one pass of `epoch_subset`: `steps = (its windows per pass)
    // counts[epoch_subset]`. The streams do not restart at epoch ends (the
    other subsets' passes are of other lengths): train with
    `model.fit(dataset, steps_per_epoch=steps)`, which keeps drawing from one
    iterator, so every epoch draws new windows.

    Args:
        subsets: the clips of each subset, by subset name.
        counts: windows of each subset per batch, by subset name (the same
            names as `subsets`); its order is the order of the slices.
        epoch_subset: the subset whose pass defines an epoch.
        window_frames, frames_per_label, seed, augment: as in `make_train_dataset`.
        targets: the targets to yield, by name; the clips of each subset may
            lack any of them (filled with zeros, sample weight 0).
        label_transform: as in `make_train_dataset` with `targets`.
        num_parallel_calls: parallelism of the feature reads.

    Raises:
        ConfigError: `targets` is None, `counts` names other subsets than
            `subsets`, a count is not a positive integer, `epoch_subset` is
            not a subset, a subset has no clips or clips inconsistent with the
            others or with `targets` (see `make_train_dataset`),
            `window_frames` is not a multiple of `frames_per_label`, or one
            pass of `epoch_subset` has fewer windows than its count.
    """
    if targets is None:
        raise ConfigError("targets: expected the target specs (subsets differ in which targets they have)")
    if set(counts) != set(subsets):
        raise ConfigError(f"counts: expected one per subset {sorted(subsets)}, found {sorted(counts)}")
    for name, count in counts.items():
        if not _is_positive_int(count):
            raise ConfigError(f"counts[{name!r}]: expected a positive integer, found {count!r}")
    if epoch_subset not in counts:
        raise ConfigError(f"epoch_subset: expected one of {list(counts)}, found {epoch_subset!r}")
    # One seed per subset: streams sharing a seed would draw the same starts.
    seeds = np.random.SeedSequence(seed).generate_state(len(counts))
    streams, feature_shape = [], None
    for (name, count), subset_seed in zip(counts.items(), seeds):
        try:
            reader = _ClipReader(subsets[name], frames_per_label, targets)
        except ConfigError as error:
            raise ConfigError(f"subset {name!r}: {error}") from None
        if feature_shape not in (None, reader.feature_shape):
            raise ConfigError(
                f"subset {name!r}: expected features [frames, {feature_shape[0]}, {feature_shape[1]}] like "
                f"subset {next(iter(counts))!r}, found [frames, {reader.feature_shape[0]}, {reader.feature_shape[1]}]"
            )
        feature_shape = reader.feature_shape
        windows, num_windows = _random_windows(
            reader, window_frames, seed=int(subset_seed), repeat=True, num_parallel_calls=num_parallel_calls
        )
        streams.append(windows.batch(count, drop_remainder=True))
        if name == epoch_subset:
            steps = num_windows // count
            if steps < 1:
                raise ConfigError(
                    f"subset {name!r}: expected at least counts[{name!r}] ({count}) windows per pass, "
                    f"found {num_windows}"
                )
    # A tuple even of one stream: `zip` would take a lone dataset as its whole structure.
    batches = tf.data.Dataset.zip(tuple(streams)).map(
        lambda *parts: tf.nest.map_structure(lambda *slices: tf.concat(slices, axis=0), *parts),
        num_parallel_calls=num_parallel_calls,
    )
    return _finish(batches, augment, label_transform, num_parallel_calls), steps


def eval_segments(
    clips: Sequence[ClipRecord], *, frames_per_label: int, segment_frames: int | None = None
) -> list[Segment]:
    """The pieces `make_eval_dataset` yields, in order (the clips' targets play no part).

    With `segment_frames` None, one per clip: the whole clip, padded to a
    multiple of `frames_per_label`. Otherwise consecutive non-overlapping
    segments of `segment_frames` covering each clip, the last one zero-padded.

    Raises:
        ConfigError: `segment_frames` is not a multiple of `frames_per_label`,
            or the clips' features disagree (see `make_train_dataset`).
    """
    return _eval_plan(_without_targets(clips), frames_per_label, segment_frames)[1]


def _eval_plan(
    clips: Sequence[ClipRecord],
    frames_per_label: int,
    segment_frames: int | None,
    targets: Mapping[str, TargetSpec] | None = None,
) -> tuple[_ClipReader, list[Segment]]:
    reader = _ClipReader(clips, frames_per_label, targets)
    if segment_frames is None:
        lengths = reader.num_label_frames * frames_per_label
        return reader, [Segment(index, 0, int(length)) for index, length in enumerate(lengths)]
    _check_multiple("segment_frames", segment_frames, frames_per_label)
    segments = [
        Segment(index, start, segment_frames)
        for index, num_frames in enumerate(reader.num_frames)
        for start in range(0, int(num_frames), segment_frames)
    ]
    return reader, segments


def make_eval_dataset(
    clips: Sequence[ClipRecord],
    *,
    frames_per_label: int,
    segment_frames: int | None = None,
    batch_size: int = 1,
    targets: Mapping[str, TargetSpec] | None = None,
    label_transform: Callable[[Labels], Labels] | None = None,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Evaluation batches `(features [B, L, F, C], targets)`, or `(features, targets, sample_weights)` with
    `targets` given (frame targets `[B, L / frames_per_label, ...]`, clip targets `[B, ...]`, sample weights
    `[B, 1, ..., 1]`, as in `make_train_dataset`), in clip order.

    The elements are the pieces of `eval_segments` (whole clips or fixed
    segments), in that order; whole clips of different lengths are
    zero-padded to the longest in their batch. Every segment of a clip
    carries its clip targets whole. `predict_clips` maps predictions back to
    clips.

    Args:
        clips: evaluation clips.
        frames_per_label: feature frames per label frame.
        segment_frames: segment length in feature frames (a multiple of
            `frames_per_label`), or None for whole clips.
        batch_size: pieces per batch; the last batch may be smaller.
        targets, label_transform: as in `make_train_dataset`.
        num_parallel_calls: parallelism of the feature reads (order is kept).

    Raises:
        ConfigError: as `eval_segments`, or the clips disagree with each
            other or with `targets` (see `make_train_dataset`).
    """
    reader, segments = _eval_plan(clips, frames_per_label, segment_frames, targets)
    return _eval_dataset(reader, segments, segment_frames, batch_size, label_transform, num_parallel_calls)


def _eval_dataset(
    reader: _ClipReader,
    segments: list[Segment],
    segment_frames: int | None,
    batch_size: int,
    label_transform: Callable[[Labels], Labels] | None = None,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    columns = tuple(np.array(column, dtype=np.int64) for column in zip(*segments))
    dataset = tf.data.Dataset.from_tensor_slices(columns).map(
        lambda index, start, length: reader.read_tf(index, start, length, segment_frames),
        num_parallel_calls=num_parallel_calls,
    )
    dataset = dataset.batch(batch_size) if segment_frames is not None else dataset.padded_batch(batch_size)
    return _finish(dataset, None, label_transform, num_parallel_calls)


def predict_clips(
    model: keras.Model,
    clips: Sequence[ClipRecord],
    *,
    frames_per_label: int,
    segment_frames: int | None = None,
    batch_size: int = 1,
    clip_outputs: Collection[str] = (),
    segment_outputs: Collection[str] = (),
) -> list[dict[str, np.ndarray]]:
    """Predict every clip and reassemble its outputs: one `{output name: array}` per clip.

    Frame outputs, `[B, L / frames_per_label, ...]` for `L` input frames,
    are concatenated in time over a clip's segments and the padding is
    trimmed: `[T_clip, ...]` with `T_clip = ceil(clip frames /
    frames_per_label)`.

    Clip outputs, named in `clip_outputs` (a model's output shape cannot
    tell `[B, T]` from `[B, K]`), have no time axis: `[B, ...]`. A clip
    predicted in one piece returns its output as it is; a clip in several
    segments returns the mean of its segments' outputs weighted by the
    feature frames each covers of the clip (its length without padding), so
    that a mostly padded last segment counts little. Whole clips batched
    together are zero-padded to the longest of their batch, and a clip
    output sees that padding: keep `batch_size` 1 for whole clips.

    Outputs named in `segment_outputs` (clip outputs scored per segment, as
    a paper that classifies every 10 s window of a recording) are the
    segments' outputs stacked in time order: `[num_segments, ...]`.

    Args:
        model: a Keras model taking features `[B, L, F, C]`.
        clips: the clips (their targets are not used).
        frames_per_label, segment_frames, batch_size: as in `make_eval_dataset`.
        clip_outputs: names of the model's clip outputs; every other output
            is a frame output.
        segment_outputs: names of clip outputs kept per segment (not in `clip_outputs`).

    Raises:
        ConfigError: a frame output's time axis is not `L / frames_per_label`,
            or `clip_outputs` names no output of the model.
    """
    segment_outputs = set(segment_outputs)
    clip_outputs = set(clip_outputs) | segment_outputs
    reader, segments = _eval_plan(_without_targets(clips), frames_per_label, segment_frames)
    dataset = _eval_dataset(reader, segments, segment_frames, batch_size)
    pieces: list[dict[str, list[np.ndarray]]] = [{} for _ in reader.clips]
    covered: list[list[int]] = [[] for _ in reader.clips]
    remaining = iter(segments)
    for features, _ in dataset:
        outputs = model.predict_on_batch(features)
        if not isinstance(outputs, Mapping):
            outputs = dict(zip(model.output_names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))
        unknown = sorted(clip_outputs - set(outputs))
        if unknown:
            raise ConfigError(f"clip_outputs: {unknown} are not outputs of the model ({sorted(outputs)})")
        expected_frames = features.shape[1] // frames_per_label
        for name, value in outputs.items():
            if name not in clip_outputs and (value.ndim < 2 or value.shape[1] != expected_frames):
                raise ConfigError(
                    f"model output {name!r}: expected {expected_frames} frames for {features.shape[1]} input frames "
                    f"(frames_per_label={frames_per_label}), found shape {tuple(value.shape)}; "
                    f"name it in clip_outputs if it has no time axis"
                )
        for element in range(features.shape[0]):
            clip_index, start, length = next(remaining)
            covered[clip_index].append(min(length, int(reader.num_frames[clip_index]) - start))
            for name, value in outputs.items():
                pieces[clip_index].setdefault(name, []).append(np.asarray(value[element]))
    return [
        {
            name: np.stack(parts) if name in segment_outputs else _join(parts, name in clip_outputs, num_label_frames, weights)
            for name, parts in clip_pieces.items()
        }
        for clip_pieces, num_label_frames, weights in zip(pieces, reader.num_label_frames, covered)
    ]


def _join(parts: list[np.ndarray], clip_output: bool, num_label_frames: int, weights: list[int]) -> np.ndarray:
    """One clip's output from its pieces' (see `predict_clips`)."""
    if not clip_output:
        # Padding only ever follows a clip's last piece: trimming the concatenation removes it all.
        return np.concatenate(parts)[:num_label_frames]
    if len(parts) == 1:
        return parts[0]
    weights = np.asarray(weights, dtype=parts[0].dtype)
    return np.tensordot(weights / weights.sum(), np.stack(parts), axes=1)


def predict_features(
    model: keras.Model,
    features: np.ndarray,
    *,
    frames_per_label: int,
    segment_frames: int | None = None,
    clip_outputs: Collection[str] = (),
    segment_outputs: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """`predict_clips` of one clip's features held in memory: `{output name: [T_clip, ...] or [...]}`."""
    with tempfile.TemporaryDirectory() as scratch:
        # The clip goes through the same reader as cached clips: one code path for segmenting and padding.
        path = os.path.join(scratch, "features.npy")
        np.save(path, features)
        (outputs,) = predict_clips(
            model,
            [ClipRecord("clip", path, {})],
            frames_per_label=frames_per_label,
            segment_frames=segment_frames,
            clip_outputs=clip_outputs,
            segment_outputs=segment_outputs,
        )
    return outputs
