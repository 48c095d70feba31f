"""Training-time data augmentation: SpecAugment, FOA rotation, mixup and time shift.

- `SpecAugment`: seeded time and frequency masking of channels-last features
  `[B, T, F, C]`, as used by Phan et al. (2020): per channel, intensity-vector
  channels too, 2 time and 2 frequency masks of width U[0, 10), filled with
  the spectrogram's mean.
- `Mixup` and `TimeShift`: the DCASE2022 SED baseline's batch mixup (targets
  of every rate and their sample weights mixed consistently) and time shift
  (frame targets shifted with the features).
- FOA rotation (Mazzon et al., 2019, "First order ambisonics domain spatial
  augmentation for DNN-based direction of arrival estimation"): 16 channel
  swap / sign-inversion patterns of first-order Ambisonics that map a source
  at azimuth phi, elevation theta to azimuth `+-phi + k * 90` degrees
  (k = 0..3) and elevation `+-theta`. Each pattern is a signed permutation
  matrix R acting on direction vectors (x front, y left, z up), so it can be
  applied exactly to the audio, to cached features (log-mels permute,
  intensity vectors transform by R) and to the DOA labels.

Pattern `index = quarter_turns + 4 * (azimuth mirrored) + 8 * (elevation
mirrored)`; index 0 is the identity.
"""

from __future__ import annotations

import numbers
from typing import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from seld_tf.datasets.events import EventList, wrap_azimuth
from seld_tf.errors import ConfigError
from seld_tf.features import FeatureConfig, num_feature_channels
from seld_tf.features.spatial import IV_CHANNELS

NUM_FOA_ROTATIONS = 16
# ACN channel (W, Y, Z, X order) holding each Cartesian axis x, y, z.
_ACN_CHANNEL_OF_AXIS = (3, 1, 2)
_AXIS_OF_ACN_CHANNEL = {channel: axis for axis, channel in enumerate(_ACN_CHANNEL_OF_AXIS)}
_NUM_LOG_MELS = 4
_NUM_FOA_FEATURES = num_feature_channels("foa", 4)
SPEC_AUGMENT_FILLS = ("mean", "zero")


def _pattern(index: int) -> tuple[int, int, int]:
    """`(quarter_turns, azimuth_sign, elevation_sign)` of rotation pattern `index`."""
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < NUM_FOA_ROTATIONS:
        raise ConfigError(f"expected an FOA rotation index in [0, {NUM_FOA_ROTATIONS}), found {index!r}")
    return int(index) % 4, -1 if index & 4 else 1, -1 if index & 8 else 1


def foa_rotation_matrices() -> np.ndarray:
    """The 16 rotation/reflection patterns as signed permutation matrices `[16, 3, 3]` (float64).

    Pattern `index` maps the direction vector of (phi, theta) to that of
    `(azimuth_sign * phi + quarter_turns * 90, elevation_sign * theta)`:
    `R = Rz(quarter_turns * 90) @ diag(1, azimuth_sign, elevation_sign)`,
    with the index layout of the module docstring.
    """
    matrices = np.zeros((NUM_FOA_ROTATIONS, 3, 3))
    for index in range(NUM_FOA_ROTATIONS):
        quarter_turns, azimuth_sign, elevation_sign = _pattern(index)
        angle = np.pi / 2 * quarter_turns
        # Rounded: the entries of a quarter-turn rotation are exactly 0 or +-1.
        cos, sin = np.rint(np.cos(angle)), np.rint(np.sin(angle))
        turn = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
        matrices[index] = turn @ np.diag([1.0, azimuth_sign, elevation_sign])
    return matrices


def _matrix(index: int) -> np.ndarray:
    _pattern(index)  # validates the index
    return foa_rotation_matrices()[index]


def _check_last_axis(array: np.ndarray | tf.Tensor, size: int, what: str) -> None:
    if len(array.shape) == 0 or array.shape[-1] != size:
        raise ConfigError(f"expected {what} with {size} channels on the last axis, found shape {tuple(array.shape)}")


def rotate_foa_audio(audio: np.ndarray, index: int) -> np.ndarray:
    """Apply rotation pattern `index` to FOA audio `[..., 4]` in ACN order W, Y, Z, X.

    W is unchanged and the dipoles `(X, Y, Z)` become `R @ (X, Y, Z)`: a plane
    wave from direction d becomes a plane wave from `R @ d`.
    """
    audio = np.asarray(audio)
    _check_last_axis(audio, 4, "FOA audio (W, Y, Z, X)")
    axes = list(_ACN_CHANNEL_OF_AXIS)
    rotated = audio.copy()
    rotated[..., axes] = audio[..., axes] @ _matrix(index).T
    return rotated


def rotate_doa(doa: np.ndarray, index: int) -> np.ndarray:
    """Apply rotation pattern `index` to Cartesian DOA vectors `[..., 3]` (class-wise or trackwise labels)."""
    doa = np.asarray(doa)
    _check_last_axis(doa, 3, "DOA vectors (x, y, z)")
    return (doa @ _matrix(index).T).astype(doa.dtype, copy=False)


def rotate_events(events: EventList, index: int) -> EventList:
    """Apply rotation pattern `index` to the directions of an event list.

    Computed on the angles (`azimuth_sign * phi + quarter_turns * 90`,
    `elevation_sign * theta`) so that integer-degree annotations stay exact.
    """
    quarter_turns, azimuth_sign, elevation_sign = _pattern(index)
    return EventList(
        events.frame,
        events.cls,
        events.track,
        wrap_azimuth(azimuth_sign * events.azimuth + 90.0 * quarter_turns),
        elevation_sign * events.elevation,
        num_frames=events.num_frames,
    )


def foa_feature_permutations(feature_config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per pattern, the source channel and sign of each of the 7 FOA feature channels.

    The rotated features are `features[..., source[index]] * sign[index]`:
    log-mels of W, Y, Z, X follow their channels' permutation (a sign flip
    leaves a log-mel unchanged) and the intensity-vector channels transform
    by R. Which axes the intensity-vector channels hold comes from
    `feature_config.iv_mapping` ("legacy" stores x, y, z = Y, Z, X dipoles, so
    R acts on them as `P R P^T` with P that channel permutation).

    Returns:
        `(source int32 [16, 7], sign float32 [16, 7])`.
    """
    # Cartesian axis held by each intensity-vector feature channel.
    iv_axis = [_AXIS_OF_ACN_CHANNEL[channel] for channel in IV_CHANNELS[feature_config.iv_mapping]]
    iv_channel_of_axis = {axis: _NUM_LOG_MELS + k for k, axis in enumerate(iv_axis)}
    source = np.zeros((NUM_FOA_ROTATIONS, _NUM_FOA_FEATURES), dtype=np.int32)
    sign = np.ones((NUM_FOA_ROTATIONS, _NUM_FOA_FEATURES), dtype=np.float32)
    for index, matrix in enumerate(foa_rotation_matrices()):
        # Row i of a signed permutation has one non-zero entry: new axis i = sign * old axis from_axis[i].
        from_axis = np.abs(matrix).argmax(axis=1)
        for axis in range(3):
            source[index, _ACN_CHANNEL_OF_AXIS[axis]] = _ACN_CHANNEL_OF_AXIS[from_axis[axis]]
        for k, axis in enumerate(iv_axis):
            source[index, _NUM_LOG_MELS + k] = iv_channel_of_axis[from_axis[axis]]
            sign[index, _NUM_LOG_MELS + k] = matrix[axis, from_axis[axis]]
    return source, sign


def rotate_foa_features(features: np.ndarray, index: int, feature_config: FeatureConfig) -> np.ndarray:
    """Apply rotation pattern `index` to FOA features `[..., T, F, 7]` (4 log-mels + 3 intensity vectors).

    Equal, up to float rounding, to the features of `rotate_foa_audio(audio,
    index)` extracted with `feature_config`; see `foa_feature_permutations`.
    """
    features = np.asarray(features)
    _check_last_axis(features, _NUM_FOA_FEATURES, "FOA features (4 log-mels + 3 intensity vectors)")
    _pattern(index)  # validates the index
    source, sign = foa_feature_permutations(feature_config)
    return (features[..., source[index]] * sign[index]).astype(features.dtype, copy=False)


class FoaRotation:
    """tf.data augmentation: a random FOA rotation pattern per example, on features and DOA labels alike.

    Called as `features, labels = rotation(features, labels)` on a batch
    (`[B, T, F, 7]`, one pattern per example) or a single example
    (`[T, F, 7]`); the labels named in `doa_keys` (`[..., 3]` Cartesian, the
    class-wise `[T, K, 3]` or trackwise `[T, M, 3]` form) are rotated with the
    same pattern, other labels pass through. Features are the raw cached
    features (normalisation comes later, inside the model).

    Args:
        feature_config: the configuration the features were extracted with;
            its `iv_mapping` decides how intensity-vector channels rotate.
        seed: seed of the pattern draws (a `keras.random.SeedGenerator`);
            None draws a random seed.
        doa_keys: names of the label entries holding DOA vectors.
    """

    def __init__(self, feature_config: FeatureConfig, seed: int | None = None, doa_keys: Sequence[str] = ("doa",)):
        source, sign = foa_feature_permutations(feature_config)
        self._source = tf.constant(source)
        self._sign = tf.constant(sign)
        self._matrices = tf.constant(foa_rotation_matrices(), tf.float32)
        self._seed_generator = keras.random.SeedGenerator(seed)
        self.doa_keys = tuple(doa_keys)

    def __call__(self, features: tf.Tensor, labels: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        _check_last_axis(features, _NUM_FOA_FEATURES, "FOA features (4 log-mels + 3 intensity vectors)")
        missing = [key for key in self.doa_keys if key not in labels]
        if missing:
            raise ConfigError(f"FoaRotation: DOA labels {missing} not found; labels hold {sorted(labels)}")
        batched = len(features.shape) == 4
        if not batched:
            features = features[None]
            labels = {key: value[None] for key, value in labels.items()}
        index = keras.random.randint((tf.shape(features)[0],), 0, NUM_FOA_ROTATIONS, seed=self._seed_generator)
        source = tf.gather(self._source, index)
        sign = tf.gather(self._sign, index)
        features = tf.gather(features, source, axis=-1, batch_dims=1) * sign[:, None, None, :]
        matrices = tf.gather(self._matrices, index)
        labels = dict(labels)
        for key in self.doa_keys:
            labels[key] = tf.einsum("b...j,bij->b...i", labels[key], matrices)
        if not batched:
            features = features[0]
            labels = {key: value[0] for key, value in labels.items()}
        return features, labels


@keras.saving.register_keras_serializable(package="seld_tf")
class SpecAugment(keras.layers.Layer):
    """Seeded SpecAugment time and frequency masking of channels-last features.

    Each mask covers a stripe of `w ~ U{0, ..., max_width - 1}` consecutive
    frames (or bins) starting at `t0 ~ U{0, ..., T - w}`, as in Phan et al.
    (2020). Active only when called with `training=True`, the identity
    otherwise, so the layer can sit inside a model as well as in a tf.data
    pipeline. tensorflow-io's `tfio.audio.time_mask` / `freq_mask` draw from
    unseeded global random ops, which is why this seeded layer exists.

    Input: `[B, T, F, C]` or `[T, F, C]`; the output has the same shape.

    Args:
        time_masks: number of time masks per example (and channel).
        time_mask_width: exclusive upper bound of a time mask's width, >= 1.
        freq_masks: number of frequency masks per example (and channel).
        freq_mask_width: exclusive upper bound of a frequency mask's width, >= 1.
        per_channel: draw independent masks for every feature channel (as
            Phan et al., intensity-vector channels included); otherwise one
            mask shared by all channels of an example.
        fill: "mean" (each example's mean over time and frequency, per
            channel), "zero", or a number.
        seed: seed of the `keras.random.SeedGenerator`; None draws a random seed.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).
    """

    def __init__(
        self,
        time_masks: int = 2,
        time_mask_width: int = 10,
        freq_masks: int = 2,
        freq_mask_width: int = 10,
        per_channel: bool = True,
        fill: str | float = "mean",
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, minimum in (
            ("time_masks", time_masks, 0),
            ("time_mask_width", time_mask_width, 1),
            ("freq_masks", freq_masks, 0),
            ("freq_mask_width", freq_mask_width, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                raise ConfigError(f"SpecAugment.{name}: expected an integer >= {minimum}, found {value!r}")
        valid_fill = fill in SPEC_AUGMENT_FILLS or (isinstance(fill, numbers.Real) and not isinstance(fill, bool))
        if not valid_fill:
            raise ConfigError(
                f"SpecAugment.fill: expected one of {list(SPEC_AUGMENT_FILLS)} or a number, found {fill!r}"
            )
        self.time_masks = int(time_masks)
        self.time_mask_width = int(time_mask_width)
        self.freq_masks = int(freq_masks)
        self.freq_mask_width = int(freq_mask_width)
        self.per_channel = bool(per_channel)
        self.fill = fill if isinstance(fill, str) else float(fill)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    def _stripes(self, batch, groups, length, count: int, max_width: int):
        """Boolean `[B, length, groups]`: the union of `count` random stripes per example and group."""
        shape = (batch, count, groups)
        width = ops.minimum(keras.random.randint(shape, 0, max_width, seed=self._seed_generator), length)
        # floor(u * (length - width + 1)) is uniform over the starts that keep the stripe inside.
        room = ops.cast(length - width + 1, "float32")
        start = ops.cast(ops.floor(keras.random.uniform(shape, seed=self._seed_generator) * room), "int32")
        positions = ops.arange(length, dtype="int32")[None, None, :, None]
        inside = ops.logical_and(positions >= start[:, :, None, :], positions < (start + width)[:, :, None, :])
        # With count == 0 the reduced axis is empty and nothing is masked.
        return ops.any(inside, axis=1)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batched = len(inputs.shape) == 4
        x = inputs if batched else ops.expand_dims(inputs, 0)
        batch, frames, bins, channels = ops.shape(x)
        groups = channels if self.per_channel else 1
        time = self._stripes(batch, groups, frames, self.time_masks, self.time_mask_width)
        freq = self._stripes(batch, groups, bins, self.freq_masks, self.freq_mask_width)
        mask = ops.logical_or(time[:, :, None, :], freq[:, None, :, :])
        if self.fill == "mean":
            fill = ops.mean(x, axis=(1, 2), keepdims=True)
        else:
            fill = ops.cast(0.0 if self.fill == "zero" else self.fill, x.dtype)
        x = ops.where(mask, fill, x)
        return x if batched else x[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            time_masks=self.time_masks,
            time_mask_width=self.time_mask_width,
            freq_masks=self.freq_masks,
            freq_mask_width=self.freq_mask_width,
            per_channel=self.per_channel,
            fill=self.fill,
            seed=self.seed,
        )
        return config


MIXUP_MODES = ("soft", "hard")
MIXUP_PAIRINGS = ("same_targets", "any")


def _per_example(values: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """`values [B]` reshaped to broadcast against `like [B, ...]`, in its dtype."""
    shape = tf.concat([tf.shape(values), tf.ones([tf.rank(like) - 1], tf.int32)], 0)
    return tf.reshape(tf.cast(values, like.dtype), shape)


def mix_batch(
    features: tf.Tensor,
    labels: Mapping[str, tf.Tensor],
    partner: tf.Tensor,
    lam: tf.Tensor,
    mode: str = "soft",
    sample_weights: Mapping[str, tf.Tensor] | None = None,
) -> tuple:
    """Mix every example `i` of a batch with example `partner[i]`, with weight `lam[i]` on itself.

    Features become `lam * x + (1 - lam) * x[partner]`. Every target, at any
    rate, mixes alike: "soft" the same convex combination, "hard" the
    element-wise max (the union of binary labels). Sample weights become
    `min(w, w[partner])`: a mixed example holds its partner's sound, so a
    target either of them lacks is unknown for the mix and stays masked. An
    example paired with itself and `lam = 1` is left exactly unchanged.

    Args:
        features: `[B, ...]`.
        labels: targets `[B, ...]` by name.
        partner: int32 `[B]`, indices into the batch.
        lam: `[B]`, the weight of each example itself.
        mode: "soft" or "hard".
        sample_weights: per-target weights `[B, ...]`, or None.

    Returns:
        `(features, labels)`, or `(features, labels, sample_weights)` when these are given.
    """
    if mode not in MIXUP_MODES:
        raise ConfigError(f"mixup mode: expected one of {list(MIXUP_MODES)}, found {mode!r}")

    def convex(x: tf.Tensor) -> tf.Tensor:
        weight = _per_example(lam, x)
        return weight * x + (1 - weight) * tf.gather(x, partner)

    features = convex(features)
    if mode == "soft":
        labels = {key: convex(value) for key, value in labels.items()}
    else:
        labels = {key: tf.maximum(value, tf.gather(value, partner)) for key, value in labels.items()}
    if sample_weights is None:
        return features, labels
    weights = {key: tf.minimum(value, tf.gather(value, partner)) for key, value in sample_weights.items()}
    return features, labels, weights


@keras.saving.register_keras_serializable(package="seld_tf")
class Mixup:
    """tf.data augmentation: mixup of the examples of a batch and of all their targets alike.

    Follows DESED_task's `mixup` (the DCASE2022 SED baseline, `desed_task/
    data_augm.py`, applied in `sed_trainer.py` with probability 0.5 per
    batch): a random permutation pairs the examples of a batch, `lam ~
    Beta(alpha, alpha)` weighs each example against its partner, and targets
    mix "soft" (the same convex combination) or "hard" (the element-wise max,
    the baseline's `clamp(y + y[perm], 0, 1)` for binary labels). See
    `mix_batch` for the arithmetic and how sample weights mix.

    The baseline mixes each subset (strong, weak, unlabelled) of its batch
    separately. Here, with `pairing="same_targets"`, the permutation pairs
    examples only with examples that have the same targets present (the same
    non-zero sample weights), which is the same thing for a batch drawn from
    several subsets; with `pairing="any"` a pair of a strong and a weak clip
    keeps only the targets both have (weights `min`).

    Called as `mixup(features, labels)` or `mixup(features, labels,
    sample_weights)` on a batch; returns as many values as it is given.
    Sample weights (`[B, 1, ..., 1]`, as `make_train_dataset` yields them)
    must be passed wherever some examples lack some targets, or the zeros
    filled in for a missing target would be mixed in as labels.

    Args:
        alpha: Beta(alpha, alpha) parameter, > 0 (baseline: 0.2).
        probability: chance that a batch (or, with `per_example_lambda`, an
            example) is mixed at all (baseline: 0.5).
        mode: "soft" or "hard" target mixing (baseline default: "soft").
        per_example_lambda: draw `lam` and the mix-or-not decision per
            example; otherwise one decision per batch and one `lam` per
            group of examples paired together (per batch with "any"), as
            the baseline.
        pairing: "same_targets" or "any", see above.
        mix_unlabeled: also mix the examples that have no target (every
            sample weight 0); False leaves them as they are, as the baseline
            leaves its unlabelled clips (it mixes only its weak and its
            strong part). Needs sample weights to tell them apart.
        seed: seed of the draws (a `keras.random.SeedGenerator`); None draws a random seed.
    """

    takes_sample_weights = True

    def __init__(
        self,
        alpha: float = 0.2,
        probability: float = 0.5,
        mode: str = "soft",
        per_example_lambda: bool = False,
        pairing: str = "same_targets",
        mix_unlabeled: bool = True,
        seed: int | None = None,
    ):
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
            raise ConfigError(f"Mixup.alpha: expected a number > 0, found {alpha!r}")
        if isinstance(probability, bool) or not isinstance(probability, numbers.Real) or not 0 <= probability <= 1:
            raise ConfigError(f"Mixup.probability: expected a number in [0, 1], found {probability!r}")
        if mode not in MIXUP_MODES:
            raise ConfigError(f"Mixup.mode: expected one of {list(MIXUP_MODES)}, found {mode!r}")
        if pairing not in MIXUP_PAIRINGS:
            raise ConfigError(f"Mixup.pairing: expected one of {list(MIXUP_PAIRINGS)}, found {pairing!r}")
        self.alpha = float(alpha)
        self.probability = float(probability)
        self.mode = mode
        self.per_example_lambda = bool(per_example_lambda)
        self.pairing = pairing
        self.mix_unlabeled = bool(mix_unlabeled)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    def _groups(self, present: list[tf.Tensor], batch: tf.Tensor) -> tf.Tensor:
        """int32 `[B]`: the examples' target-presence pattern with "same_targets" (a bit per target), else 0."""
        group = tf.zeros([batch], tf.int32)
        if self.pairing == "same_targets":
            for bit, target_present in enumerate(present):
                group += tf.cast(target_present, tf.int32) * 2**bit
        return group

    def _partners(self, batch: tf.Tensor, group: tf.Tensor) -> tf.Tensor:
        # Both orders list the groups as contiguous blocks of the same sizes,
        # in the same order: the k-th of one and the k-th of the other share a group.
        by_group = tf.argsort(group, stable=True)
        key = tf.cast(group, tf.float32) + keras.random.uniform([batch], seed=self._seed_generator)
        shuffled = tf.argsort(key)
        return tf.gather(shuffled, tf.argsort(by_group))

    def __call__(self, features: tf.Tensor, labels: Mapping[str, tf.Tensor], sample_weights=None) -> tuple:
        batch = tf.shape(features)[0]
        # Per target (in name order), bool `[B]`: whether each example has it.
        present = [tf.reshape(sample_weights[key], [batch, -1])[:, 0] > 0 for key in sorted(sample_weights or ())]
        group = self._groups(present, batch)
        if self.per_example_lambda:
            lam = keras.random.beta([batch], self.alpha, self.alpha, seed=self._seed_generator)
            mixed = keras.random.uniform([batch], seed=self._seed_generator) < self.probability
        else:
            # One weight per group, as the baseline calls its mixup once per subset; one coin for the batch.
            groups = 2 ** len(present) if self.pairing == "same_targets" else 1
            lam = tf.gather(keras.random.beta([groups], self.alpha, self.alpha, seed=self._seed_generator), group)
            mixed = tf.broadcast_to(keras.random.uniform([1], seed=self._seed_generator) < self.probability, [batch])
        lam = tf.where(mixed, lam, 1.0)
        if not self.mix_unlabeled:
            if not present:
                raise ConfigError("Mixup(mix_unlabeled=False) needs the batch's sample weights to find the unlabelled examples")
            labelled = tf.reduce_any(tf.stack(present), axis=0)
            mixed &= labelled
            lam = tf.where(labelled, lam, 1.0)
        partner = tf.where(mixed, self._partners(batch, group), tf.range(batch))
        return mix_batch(features, dict(labels), partner, lam, self.mode, sample_weights)

    def get_config(self) -> dict:
        return dict(
            alpha=self.alpha,
            probability=self.probability,
            mode=self.mode,
            per_example_lambda=self.per_example_lambda,
            pairing=self.pairing,
            mix_unlabeled=self.mix_unlabeled,
            seed=self.seed,
        )

    @classmethod
    def from_config(cls, config: dict) -> "Mixup":
        return cls(**config)


@keras.saving.register_keras_serializable(package="seld_tf")
class TimeShift:
    """tf.data augmentation: roll each example along time, its frame targets alike.

    Each example of a batch `[B, T, ...]` is rolled (wrapped around, as
    DESED_task's `frame_shift` does with `torch.roll`) by `k *
    frames_per_label` feature frames and its frame targets `[B, T /
    frames_per_label, ...]` by `k` label frames, `k` uniform in `{-K, ...,
    K}` with `K = max_shift_frames // frames_per_label`; positive `k` moves
    content later. Unlike the baseline (Gaussian shifts, sd 90 frames, whose
    label shift rounds), the shift is a whole number of label frames, so
    features and frame targets stay exactly aligned. Clip targets and sample
    weights are unchanged.

    Args:
        max_shift_frames: largest shift, in feature frames, >= 0.
        frames_per_label: feature frames per label frame (the model's time pooling).
        frame_targets: names of the frame targets, which must be in the labels.
        seed: seed of the draws (a `keras.random.SeedGenerator`); None draws a random seed.
    """

    def __init__(
        self,
        max_shift_frames: int,
        frames_per_label: int,
        frame_targets: Sequence[str] = ("strong",),
        seed: int | None = None,
    ):
        for name, value, minimum in (
            ("max_shift_frames", max_shift_frames, 0),
            ("frames_per_label", frames_per_label, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                raise ConfigError(f"TimeShift.{name}: expected an integer >= {minimum}, found {value!r}")
        if isinstance(frame_targets, str):
            raise ConfigError(f"TimeShift.frame_targets: expected a sequence of names, found {frame_targets!r}")
        self.max_shift_frames = int(max_shift_frames)
        self.frames_per_label = int(frames_per_label)
        self.frame_targets = tuple(frame_targets)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    @staticmethod
    def _roll(x: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
        length = tf.shape(x)[1]
        source = tf.math.floormod(tf.range(length)[None, :] - shift[:, None], length)
        return tf.gather(x, source, axis=1, batch_dims=1)

    def __call__(self, features: tf.Tensor, labels: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        missing = [key for key in self.frame_targets if key not in labels]
        if missing:
            raise ConfigError(f"TimeShift: frame targets {missing} not found; labels hold {sorted(labels)}")
        frames = features.shape[1]
        for key in self.frame_targets:
            length = labels[key].shape[1]
            if frames is not None and length is not None and length * self.frames_per_label != frames:
                raise ConfigError(
                    f"TimeShift: frame target {key!r} has {length} frames, expected {frames} feature frames "
                    f"/ frames_per_label {self.frames_per_label}"
                )
        limit = self.max_shift_frames // self.frames_per_label
        shift = keras.random.randint([tf.shape(features)[0]], -limit, limit + 1, seed=self._seed_generator)
        labels = dict(labels)
        for key in self.frame_targets:
            labels[key] = self._roll(labels[key], shift)
        return self._roll(features, shift * self.frames_per_label), labels

    def get_config(self) -> dict:
        return dict(
            max_shift_frames=self.max_shift_frames,
            frames_per_label=self.frames_per_label,
            frame_targets=list(self.frame_targets),
            seed=self.seed,
        )

    @classmethod
    def from_config(cls, config: dict) -> "TimeShift":
        return cls(**config)
