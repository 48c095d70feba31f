"""tf.data input pipelines for SELD: random training windows, whole-clip or segmented evaluation.

Features are read from the feature cache (one `float32 [frames, bins,
channels]` `.npy` per clip) window by window with memory mapping, so a
dataset never has to fit in memory. They are yielded raw: normalisation is
the model's first layer. Labels are held in memory (they are small) as a dict
keyed by the model's output names, at the 100 ms label-frame rate; a model
pools time by `frames_per_label`, so a window of `W` feature frames carries
`W / frames_per_label` label frames and starts on a label-frame boundary.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable, Mapping, NamedTuple, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from seld_tf.datasets.dcase2020_seld import CLASS_NAMES, Clip, Dcase2020Dataset
from seld_tf.datasets.seld_labels import events_to_classwise, events_to_trackwise
from seld_tf.errors import ConfigError
from seld_tf.features.extract import FeatureCache

LABEL_FORMS = ("classwise", "trackwise")
Labels = Mapping[str, tf.Tensor]
# A Keras layer augments the features only (called with training=True); any
# other callable maps (features, labels) -> (features, labels).
Augmentation = Union[keras.layers.Layer, Callable[[tf.Tensor, Labels], tuple[tf.Tensor, Labels]]]


@dataclasses.dataclass(frozen=True, eq=False)
class SeldClip:
    """One clip as the pipeline sees it.

    Attributes:
        name: clip name (the feature file's stem).
        feature_path: cached features, `float32 [frames, bins, channels]` `.npy`.
        labels: label arrays keyed by model output name, each `[T, ...]` with
            `T = ceil(frames / frames_per_label)` label frames, e.g.
            `{"sed": [T, K], "doa": [T, K, 3]}` (class-wise) or
            `{"sed": [T, M, K], "doa": [T, M, 3]}` (trackwise). May be empty
            for unlabelled clips (prediction only).
    """

    name: str
    feature_path: str
    labels: Mapping[str, np.ndarray]


class Segment(NamedTuple):
    """A piece of a clip in an evaluation dataset: features `[start, start + length)`, zero-padded past the end."""

    clip_index: int
    start: int
    length: int


def seld_clips_from_dataset(
    dataset: Dcase2020Dataset,
    cache: FeatureCache,
    clips: Sequence[Clip],
    label_form: str = "classwise",
    num_classes: int = len(CLASS_NAMES),
    num_tracks: int = 2,
    frames_per_label: int = 5,
) -> list[SeldClip]:
    """Pair each clip's cached features with its labels, built from its metadata CSV.

    Args:
        dataset: the dataset the clips belong to (reads their metadata).
        cache: feature cache holding an entry per clip.
        clips: the clips to use, e.g. `dataset.clips("dev", folds=(3, 4, 5, 6))`.
        label_form: "classwise" (`sed [T, K]`, `doa [T, K, 3]`) or
            "trackwise" (`sed [T, M, K]`, `doa [T, M, 3]`).
        num_classes: K.
        num_tracks: M (trackwise only).
        frames_per_label: feature frames per 100 ms label frame; `T =
            ceil(feature frames / frames_per_label)`.

    Raises:
        ConfigError: unknown `label_form`, or a clip without cached features.
        AnnotationError: a malformed metadata CSV, or an event past the clip's end.
    """
    if label_form not in LABEL_FORMS:
        raise ConfigError(f"expected label_form one of {list(LABEL_FORMS)}, found {label_form!r}")
    result = []
    for clip in clips:
        path = cache.entry_path(clip.name)
        if not path.exists():
            raise ConfigError(f"no cached features for clip {clip.name}: expected {path}")
        num_frames = math.ceil(cache.load(clip.name, mmap=True).shape[0] / frames_per_label)
        events = dataset.read_events(clip, num_frames=num_frames)
        if label_form == "classwise":
            sed, doa = events_to_classwise(events, num_frames, num_classes)
        else:
            sed, doa = events_to_trackwise(events, num_frames, num_classes, num_tracks)
        result.append(SeldClip(clip.name, str(path), {"sed": sed, "doa": doa}))
    return result


def _check_multiple(name: str, value: int, frames_per_label: int) -> None:
    if not _is_positive_int(value) or value % frames_per_label:
        raise ConfigError(
            f"{name}: expected a positive multiple of frames_per_label ({frames_per_label}), found {value!r}"
        )


def _is_positive_int(value) -> bool:
    # bool is an int subclass; `true` in a recipe is a typo, not a size.
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= 1


class _ClipReader:
    """Reads zero-padded feature/label windows of a list of clips (validated on construction).

    Attributes:
        num_frames: feature frames per clip.
        num_label_frames: label frames per clip.
    """

    def __init__(self, clips: Sequence[SeldClip], frames_per_label: int):
        if not _is_positive_int(frames_per_label):
            raise ConfigError(f"frames_per_label: expected a positive integer, found {frames_per_label!r}")
        if not clips:
            raise ConfigError("expected at least one clip, found none")
        self.clips = list(clips)
        self.frames_per_label = frames_per_label
        self.keys = sorted(self.clips[0].labels)
        self.label_shapes = {key: np.shape(self.clips[0].labels[key])[1:] for key in self.keys}
        # mmap reads only the header: cheap even for a whole dataset.
        self.feature_shape = np.load(self.clips[0].feature_path, mmap_mode="r").shape[1:]
        self.num_frames = np.zeros(len(self.clips), dtype=np.int64)
        self.num_label_frames = np.zeros(len(self.clips), dtype=np.int64)
        for index, clip in enumerate(self.clips):
            self.num_frames[index], self.num_label_frames[index] = self._inspect(clip)

    def _inspect(self, clip: SeldClip) -> tuple[int, int]:
        """Check a clip against the first one (feature bins/channels, label names/shapes); its lengths."""
        shape = np.load(clip.feature_path, mmap_mode="r").shape
        if len(shape) != 3:
            raise ConfigError(f"{clip.feature_path}: expected features [frames, bins, channels], found shape {shape}")
        if shape[1:] != self.feature_shape:
            raise ConfigError(
                f"{clip.feature_path}: expected features [frames, {self.feature_shape[0]}, {self.feature_shape[1]}] "
                f"like {self.clips[0].feature_path}, found shape {shape}"
            )
        num_label_frames = math.ceil(shape[0] / self.frames_per_label)
        if sorted(clip.labels) != self.keys:
            raise ConfigError(f"clip {clip.name}: expected labels {self.keys}, found {sorted(clip.labels)}")
        for key in self.keys:
            expected = (num_label_frames, *self.label_shapes[key])
            if np.shape(clip.labels[key]) != expected:
                raise ConfigError(
                    f"clip {clip.name}: expected labels[{key!r}] of shape {expected} "
                    f"(ceil({shape[0]} frames / {self.frames_per_label})), found {np.shape(clip.labels[key])}"
                )
        return shape[0], num_label_frames

    def read(self, clip_index: np.ndarray, start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, ...]:
        """Features `[length, F, C]` and each label `[length / frames_per_label, ...]` from feature frame `start`."""
        clip = self.clips[int(clip_index)]
        start, length = int(start), int(length)
        features = np.zeros((length, *self.feature_shape), dtype=np.float32)
        window = np.load(clip.feature_path, mmap_mode="r")[start : start + length]
        features[: len(window)] = window
        label_start, label_length = start // self.frames_per_label, length // self.frames_per_label
        labels = []
        for key in self.keys:
            label = np.zeros((label_length, *self.label_shapes[key]), dtype=np.float32)
            window = clip.labels[key][label_start : label_start + label_length]
            label[: len(window)] = window
            labels.append(label)
        return (features, *labels)

    def read_tf(
        self, clip_index: tf.Tensor, start: tf.Tensor, length: tf.Tensor, static_length: int | None
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """`read` as a tf.data map function; `static_length` (feature frames) fixes the time axis when known."""
        outputs = tf.numpy_function(
            self.read, [clip_index, start, length], [tf.float32] * (1 + len(self.keys)), stateful=False
        )
        label_length = None if static_length is None else static_length // self.frames_per_label
        features = tf.ensure_shape(outputs[0], (static_length, *self.feature_shape))
        labels = {
            key: tf.ensure_shape(value, (label_length, *self.label_shapes[key]))
            for key, value in zip(self.keys, outputs[1:])
        }
        return features, labels


def _augmentation_fn(augment: Augmentation | Sequence[Augmentation]) -> Callable:
    steps = list(augment) if isinstance(augment, Sequence) else [augment]

    def apply(features: tf.Tensor, labels: Labels) -> tuple[tf.Tensor, Labels]:
        for step in steps:
            if isinstance(step, keras.layers.Layer):
                features = step(features, training=True)
            else:
                features, labels = step(features, labels)
        return features, labels

    return apply


def make_train_dataset(
    clips: Sequence[SeldClip],
    *,
    window_frames: int,
    frames_per_label: int,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    augment: Augmentation | Sequence[Augmentation] | None = None,
    label_transform: Callable[[Labels], Labels] | None = None,
    windows_per_clip: int | None = None,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Batches of random training windows: `(features [B, W, F, C], {name: [B, W / frames_per_label, ...]})`.

    Each window starts on a label-frame boundary, uniformly among the starts
    that keep it inside the clip; a clip shorter than the window gives one
    window from its start, zero-padded (features and labels). An epoch holds
    `windows_per_clip` windows of every clip, and the start positions and the
    order are drawn afresh each epoch, from `seed`: two datasets built with the
    same arguments yield the same sequence. Incomplete last batches are dropped.

    Args:
        clips: training clips.
        window_frames: W, in feature frames; a multiple of `frames_per_label`.
        frames_per_label: feature frames per label frame (the model's time pooling).
        batch_size: B.
        seed: seed of the window order and start positions.
        shuffle: shuffle the windows of an epoch; otherwise clip order.
        augment: an augmentation or a sequence of them, applied in order to
            each batch: a Keras layer acts on the features (called with
            `training=True`, e.g. `SpecAugment`); any other callable maps
            `(features, labels) -> (features, labels)` (e.g. `FoaRotation`).
            Their own seeds make them reproducible.
        label_transform: maps the labels dict of a batch to the model's
            targets, after augmentation (e.g. to merge outputs).
        windows_per_clip: windows per clip per epoch; None: `ceil(clip frames
            / W)`, enough to cover each clip once.
        num_parallel_calls: parallelism of the feature reads.

    Raises:
        ConfigError: `window_frames` is not a multiple of `frames_per_label`,
            the clips disagree with each other or with their labels' length,
            `batch_size` or `windows_per_clip` is not a positive integer, or
            an epoch has fewer windows than `batch_size`.
    """
    reader = _ClipReader(clips, frames_per_label)
    _check_multiple("window_frames", window_frames, frames_per_label)
    if not _is_positive_int(batch_size):
        raise ConfigError(f"batch_size: expected a positive integer, found {batch_size!r}")
    if windows_per_clip is not None and not _is_positive_int(windows_per_clip):
        raise ConfigError(f"windows_per_clip: expected a positive integer or None, found {windows_per_clip!r}")
    if windows_per_clip is None:
        counts = -(-reader.num_frames // window_frames)
    else:
        counts = np.full(len(reader.clips), windows_per_clip)
    clip_index = np.repeat(np.arange(len(reader.clips)), counts)
    if len(clip_index) < batch_size:
        raise ConfigError(f"expected at least batch_size ({batch_size}) windows per epoch, found {len(clip_index)}")
    window_labels = window_frames // frames_per_label
    num_starts = tf.constant(np.maximum(reader.num_label_frames - window_labels, 0) + 1)

    def window(index: tf.Tensor, random: tf.Tensor) -> tuple[tf.Tensor, Labels]:
        start = (random % tf.gather(num_starts, index)) * frames_per_label
        return reader.read_tf(index, start, tf.constant(window_frames, tf.int64), window_frames)

    dataset = tf.data.Dataset.from_tensor_slices(clip_index)
    if shuffle:
        dataset = dataset.shuffle(len(clip_index), seed=seed, reshuffle_each_iteration=True)
    # The start positions' randomness is part of each element, so reading in
    # parallel cannot reorder the draws.
    randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, randoms).map(window, num_parallel_calls=num_parallel_calls)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if augment is not None:
        # Sequential on purpose: augmentations draw from stateful seed
        # generators, and parallel calls would consume their draws in a
        # nondeterministic order.
        dataset = dataset.map(_augmentation_fn(augment))
    if label_transform is not None:
        dataset = dataset.map(lambda x, y: (x, label_transform(y)), num_parallel_calls=num_parallel_calls)
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_segments(
    clips: Sequence[SeldClip], *, frames_per_label: int, segment_frames: int | None = None
) -> list[Segment]:
    """The pieces `make_eval_dataset` yields, in order.

    With `segment_frames` None, one per clip: the whole clip, padded to a
    multiple of `frames_per_label`. Otherwise consecutive non-overlapping
    segments of `segment_frames` covering each clip, the last one zero-padded.

    Raises:
        ConfigError: `segment_frames` is not a multiple of `frames_per_label`,
            or the clips are inconsistent (see `make_train_dataset`).
    """
    return _eval_plan(clips, frames_per_label, segment_frames)[1]


def _eval_plan(
    clips: Sequence[SeldClip], frames_per_label: int, segment_frames: int | None
) -> tuple[_ClipReader, list[Segment]]:
    reader = _ClipReader(clips, frames_per_label)
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
    clips: Sequence[SeldClip],
    *,
    frames_per_label: int,
    segment_frames: int | None = None,
    batch_size: int = 1,
    label_transform: Callable[[Labels], Labels] | None = None,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Evaluation batches `(features [B, L, F, C], {name: [B, L / frames_per_label, ...]})`, in clip order.

    The elements are the pieces of `eval_segments` (whole clips or fixed
    segments), in that order; whole clips of different lengths are
    zero-padded to the longest in their batch. `predict_clips` maps
    predictions back to clips.

    Args:
        clips: evaluation clips.
        frames_per_label: feature frames per label frame.
        segment_frames: segment length in feature frames (a multiple of
            `frames_per_label`), or None for whole clips.
        batch_size: pieces per batch; the last batch may be smaller.
        label_transform: maps each batch's labels dict to the model's targets.
        num_parallel_calls: parallelism of the feature reads (order is kept).

    Raises:
        ConfigError: as `eval_segments`.
    """
    reader, segments = _eval_plan(clips, frames_per_label, segment_frames)
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
    if label_transform is not None:
        dataset = dataset.map(lambda x, y: (x, label_transform(y)), num_parallel_calls=num_parallel_calls)
    return dataset.prefetch(tf.data.AUTOTUNE)


def predict_clips(
    model: keras.Model,
    clips: Sequence[SeldClip],
    *,
    frames_per_label: int,
    segment_frames: int | None = None,
    batch_size: int = 1,
) -> list[dict[str, np.ndarray]]:
    """Predict every clip and reassemble its outputs: one `{output name: [T_clip, ...]}` per clip.

    The model must output one frame per label frame (`L / frames_per_label`
    for `L` input frames). Segment outputs are concatenated in time and the
    padding is trimmed, so `T_clip = ceil(clip frames / frames_per_label)`.

    Args:
        model: a Keras model taking features `[B, L, F, C]`.
        clips: the clips (labels are not used).
        frames_per_label, segment_frames, batch_size: as in `make_eval_dataset`.

    Raises:
        ConfigError: an output's time axis is not `L / frames_per_label`.
    """
    reader, segments = _eval_plan(clips, frames_per_label, segment_frames)
    dataset = _eval_dataset(reader, segments, segment_frames, batch_size)
    pieces: list[dict[str, list[np.ndarray]]] = [{} for _ in reader.clips]
    remaining = iter(segments)
    for features, _ in dataset:
        outputs = model.predict_on_batch(features)
        if not isinstance(outputs, Mapping):
            outputs = dict(zip(model.output_names, outputs if isinstance(outputs, (list, tuple)) else [outputs]))
        expected_frames = features.shape[1] // frames_per_label
        for name, value in outputs.items():
            if value.shape[1] != expected_frames:
                raise ConfigError(
                    f"model output {name!r}: expected {expected_frames} frames for {features.shape[1]} input frames "
                    f"(frames_per_label={frames_per_label}), found {value.shape[1]}"
                )
        for element in range(features.shape[0]):
            clip_index = next(remaining).clip_index
            for name, value in outputs.items():
                pieces[clip_index].setdefault(name, []).append(np.asarray(value[element]))
    # Padding only ever follows a clip's last piece: trimming the concatenation removes it all.
    return [
        {name: np.concatenate(parts)[:num_label_frames] for name, parts in clip_pieces.items()}
        for clip_pieces, num_label_frames in zip(pieces, reader.num_label_frames)
    ]
