"""Targets of every rate: frame targets at any label rate, clip targets, missing targets, multi-subset batches.

As in test_pipeline.py, feature frame `t` of clip `c` holds `(c + 1) * 1000 +
t` and frame target `j` holds `(c + 1) * 1000 + j`, so every window traces
back to its clip and start, and zero means padding. Clip `c`'s clip target
"weak" holds `(c + 1) * 1000 + [0, 1, 2]`.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.errors import ConfigError
from seld_tf.pipeline import (
    ClipRecord,
    TargetSpec,
    eval_segments,
    make_eval_dataset,
    make_multi_subset_dataset,
    make_train_dataset,
    predict_clips,
)

FRAMES_PER_LABEL = 5
WINDOW = 20  # 4 label frames
BINS, CHANNELS, CLASSES = 2, 1, 3
TARGETS = {"strong": TargetSpec("frame", (CLASSES,)), "weak": TargetSpec("clip", (CLASSES,))}


def encoded_clip(directory, index: int, num_frames: int, kind: str = "strong") -> ClipRecord:
    """A clip with frame and clip targets ("strong"), clip targets only ("weak"), or none ("unlabelled")."""
    code = (index + 1) * 1000
    frames = code + np.arange(num_frames, dtype=np.float32)
    path = directory / f"clip{index}.npy"
    np.save(path, np.ascontiguousarray(np.broadcast_to(frames[:, None, None], (num_frames, BINS, CHANNELS))))
    label_frames = code + np.arange(math.ceil(num_frames / FRAMES_PER_LABEL), dtype=np.float32)
    labels = {"strong": np.repeat(label_frames[:, None], CLASSES, axis=1)} if kind == "strong" else {}
    clip_labels = {"weak": code + np.arange(CLASSES, dtype=np.float32)} if kind != "unlabelled" else {}
    return ClipRecord(f"clip{index}", str(path), labels, clip_labels)


def decode_window(features: np.ndarray) -> tuple[int, int]:
    first = int(features[0, 0, 0])
    return first // 1000 - 1, first % 1000


def expected_strong(clip: int, num_frames: int, start: int, length: int) -> np.ndarray:
    """The encoded frame targets `[length / FRAMES_PER_LABEL, CLASSES]` of a window, zero past the clip."""
    frames = start // FRAMES_PER_LABEL + np.arange(length // FRAMES_PER_LABEL)
    values = np.where(frames < math.ceil(num_frames / FRAMES_PER_LABEL), (clip + 1) * 1000 + frames, 0)
    return np.repeat(values[:, None], CLASSES, axis=1)


def weak_of(clip: int) -> np.ndarray:
    return (clip + 1) * 1000 + np.arange(CLASSES, dtype=np.float32)


def as_numpy(element) -> tuple:
    return tf.nest.map_structure(lambda tensor: tensor.numpy(), element)


@pytest.fixture
def mixed(tmp_path) -> list[ClipRecord]:
    """Clips 0-1 strong, 2-3 weak, 4-5 unlabelled."""
    frames = (47, 30, 40, 25, 35, 12)
    kinds = ("strong", "strong", "weak", "weak", "unlabelled", "unlabelled")
    return [encoded_clip(tmp_path, index, n, kind) for index, (n, kind) in enumerate(zip(frames, kinds))]


def num_frames_of(clip: ClipRecord) -> int:
    return np.load(clip.feature_path, mmap_mode="r").shape[0]


# -- target specs and clip targets -------------------------------------------


def test_target_specs_are_validated_and_compare_by_value():
    assert TargetSpec("frame", [2]) == TargetSpec("frame", (np.int64(2),))
    assert TargetSpec("clip", ()).shape == ()
    with pytest.raises(ConfigError, match="rate"):
        TargetSpec("segment", (2,))
    with pytest.raises(ConfigError, match="shape"):
        TargetSpec("clip", (2, 0))
    with pytest.raises(ConfigError, match="shape"):
        TargetSpec("clip", 3)


def test_clip_targets_go_whole_into_every_window_and_segment(mixed):
    strong = mixed[:2]
    dataset = make_train_dataset(
        strong, window_frames=WINDOW, frames_per_label=FRAMES_PER_LABEL, batch_size=5, seed=0, windows_per_clip=5
    )
    x_spec, y_spec = dataset.element_spec  # no targets given: no sample weights
    assert y_spec["strong"].shape == (5, 4, CLASSES) and y_spec["weak"].shape == (5, CLASSES)
    for x, y in map(as_numpy, dataset):
        for b in range(len(x)):
            clip, start = decode_window(x[b])
            expected = expected_strong(clip, num_frames_of(strong[clip]), start, WINDOW)
            np.testing.assert_array_equal(y["strong"][b], expected)
            np.testing.assert_array_equal(y["weak"][b], weak_of(clip))
    segments = iter(eval_segments(strong, frames_per_label=FRAMES_PER_LABEL, segment_frames=10))
    evaluation = make_eval_dataset(strong, frames_per_label=FRAMES_PER_LABEL, segment_frames=10, batch_size=3)
    for x, y in map(as_numpy, evaluation):
        for b in range(len(x)):
            np.testing.assert_array_equal(y["weak"][b], weak_of(next(segments).clip_index))


# -- alignment at any label rate ------------------------------------------------

EVENTS = [(0.5, 1.7, 0), (2.3, 4.05, 2), (3.9, 9.61, 1)]  # onset, offset (s), class: no edge on a frame boundary


def activity(start_seconds: float, num_frames: int, frame_seconds: float) -> np.ndarray:
    """`[num_frames, CLASSES]`: 1 where a class is active in `[t, t + frame_seconds)`, frames from `start_seconds`."""
    starts = start_seconds + np.arange(num_frames)[:, None] * frame_seconds
    result = np.zeros((num_frames, CLASSES), np.float32)
    for onset, offset, label in EVENTS:
        result[:, label] = np.maximum(result[:, label], ((starts < offset) & (starts + frame_seconds > onset))[:, 0])
    return result


@pytest.mark.parametrize(
    "sample_rate, hop, pooling, window",
    [(16000, 256, 4, 128), (32000, 1024, 1, 64)],
    ids=["desed-15.625Hz", "2apae-31.25Hz"],
)
def test_frame_targets_at_any_label_rate_stay_aligned_with_time(tmp_path, sample_rate, hop, pooling, window):
    # 10 s: 625 and 313 feature frames; DESED has 156.25 feature frames' worth of label frames, so the
    # last of its 157 label frames is partial.
    num_frames = math.ceil(10.0 * sample_rate / hop)
    label_seconds = pooling * hop / sample_rate
    features = (1 + np.arange(num_frames, dtype=np.float32))[:, None, None] * np.ones((1, BINS, CHANNELS), np.float32)
    np.save(tmp_path / "clip.npy", features)
    num_labels = math.ceil(num_frames / pooling)
    clip = ClipRecord(
        "clip", str(tmp_path / "clip.npy"), {"events": activity(0.0, num_labels, label_seconds)}, {"tags": np.ones(3)}
    )

    def check(x: np.ndarray, y: dict, length: int) -> int:
        start = int(x[0, 0, 0]) - 1
        assert start % pooling == 0
        frames = start + np.arange(length)
        np.testing.assert_array_equal(x[:, 0, 0], np.where(frames < num_frames, frames + 1, 0))
        # The same time span, computed from the window's own start time.
        expected = activity(start * hop / sample_rate, length // pooling, label_seconds)
        np.testing.assert_array_equal(y["events"], expected)
        np.testing.assert_array_equal(y["tags"], np.ones(3))
        return start

    def starts(dataset: tf.data.Dataset) -> list[int]:
        batches = map(as_numpy, dataset)
        return [check(x[b], {k: v[b] for k, v in y.items()}, window) for x, y in batches for b in range(len(x))]

    train = make_train_dataset(
        [clip], window_frames=window, frames_per_label=pooling, batch_size=10, seed=1, windows_per_clip=30
    )
    assert len(set(starts(train))) > 10
    # Segments reach the partial last label frame and the padding past it.
    evaluation = make_eval_dataset([clip], frames_per_label=pooling, segment_frames=window, batch_size=4)
    assert starts(evaluation) == list(range(0, num_frames, window))
    (prediction,) = predict_clips(
        time_pooling_model(pooling), [clip], frames_per_label=pooling, segment_frames=window, clip_outputs=["mean"]
    )
    assert prediction["pooled"].shape == (num_labels, BINS, CHANNELS)


def test_a_label_rate_that_is_no_integer_pooling_of_the_feature_rate_is_refused(mixed):
    # 10 Hz labels on 62.5 Hz features (16 kHz, hop 256) would need 6.25 feature frames per label frame.
    with pytest.raises(ConfigError, match="frames_per_label"):
        make_train_dataset(mixed[:2], window_frames=25, frames_per_label=6.25, batch_size=1, seed=0)
    with pytest.raises(ConfigError, match="window_frames"):
        make_train_dataset(mixed[:2], window_frames=22, frames_per_label=FRAMES_PER_LABEL, batch_size=1, seed=0)
    with pytest.raises(ConfigError, match="segment_frames"):
        make_eval_dataset(mixed[:2], frames_per_label=FRAMES_PER_LABEL, segment_frames=12)


# -- missing targets -----------------------------------------------------------


def test_missing_targets_are_filled_with_zeros_and_weighted_zero(mixed):
    presence = {"strong": (1, 1, 0, 0, 0, 0), "weak": (1, 1, 1, 1, 0, 0)}
    train = make_train_dataset(
        mixed, window_frames=WINDOW, frames_per_label=FRAMES_PER_LABEL, batch_size=4, seed=0, targets=TARGETS
    )
    _, y_spec, w_spec = train.element_spec
    assert {name: spec.shape for name, spec in w_spec.items()} == {"strong": (4, 1), "weak": (4,)}
    assert w_spec["strong"].dtype == tf.float32
    evaluation = make_eval_dataset(mixed, frames_per_label=FRAMES_PER_LABEL, batch_size=4, targets=TARGETS)
    seen = set()
    for dataset in (train, evaluation):
        for x, y, w in map(as_numpy, dataset):
            for b in range(len(x)):
                clip, start = decode_window(x[b])
                seen.add(clip)
                for name in TARGETS:
                    assert w[name][b].item() == presence[name][clip]
                length = y["strong"].shape[1] * FRAMES_PER_LABEL
                strong = expected_strong(clip, num_frames_of(mixed[clip]), start, length)
                np.testing.assert_array_equal(y["strong"][b], strong * presence["strong"][clip])
                np.testing.assert_array_equal(y["weak"][b], weak_of(clip) * presence["weak"][clip])
    assert seen == set(range(6))


def test_targets_must_match_the_clips(mixed):
    def train(clips, targets=TARGETS):
        return make_train_dataset(
            clips, window_frames=WINDOW, frames_per_label=FRAMES_PER_LABEL, batch_size=1, seed=0, targets=targets
        )

    with pytest.raises(ConfigError, match="clip2: expected targets"):
        train(mixed, targets=None)  # without targets, every clip must have the first clip's
    with pytest.raises(ConfigError, match="clip0: expected targets"):
        train(mixed, targets={"strong": TARGETS["strong"]})
    with pytest.raises(ConfigError, match="'weak' is a frame target"):
        train(mixed, targets={**TARGETS, "weak": TargetSpec("frame", (CLASSES,))})
    with pytest.raises(ConfigError, match=r"clip_labels\['weak'\] of shape \(4,\)"):
        train(mixed, targets={**TARGETS, "weak": TargetSpec("clip", (4,))})
    with pytest.raises(ConfigError, match=r"clip0: expected labels\['strong'\] of shape \(10, 2\)"):
        train(mixed, targets={**TARGETS, "strong": TargetSpec("frame", (2,))})
    with pytest.raises(ConfigError, match="TargetSpec"):
        train(mixed, targets={"strong": ("frame", (CLASSES,))})
    both = ClipRecord("both", mixed[0].feature_path, mixed[0].labels, {"strong": np.zeros(CLASSES)})
    with pytest.raises(ConfigError, match="both: targets \\['strong'\\] are in both"):
        train([both])


def test_the_label_transform_may_drop_targets_but_not_rename_them(mixed):
    def train(label_transform):
        return make_train_dataset(
            mixed,
            window_frames=WINDOW,
            frames_per_label=FRAMES_PER_LABEL,
            batch_size=6,
            seed=0,
            targets=TARGETS,
            label_transform=label_transform,
        )

    x, y, w = as_numpy(next(iter(train(lambda targets: {"strong": 2 * targets["strong"]}))))
    assert set(y) == set(w) == {"strong"}
    with pytest.raises(ConfigError, match=r"outputs \['tags'\] are not targets"):
        train(lambda targets: {"tags": targets["weak"]})


def heads_model(pairs: bool = False) -> keras.Model:
    """Frame head "strong" `[B, T, K]`, clip head "weak" `[B, K]` and, with `pairs`, frame head "pairs"
    `[B, T, K, 2]`; the heads share no weights."""
    inputs = keras.Input((None, BINS, CHANNELS))
    scaled = keras.layers.Rescaling(1e-3)(inputs)
    pooled = keras.layers.AveragePooling2D((FRAMES_PER_LABEL, 1))(scaled)
    frames = keras.layers.Reshape((-1, BINS * CHANNELS))(pooled)
    outputs = {
        "strong": keras.layers.Dense(CLASSES, name="strong")(frames),
        "weak": keras.layers.Dense(CLASSES, name="weak")(keras.layers.GlobalAveragePooling1D()(frames)),
    }
    if pairs:
        outputs["pairs"] = keras.layers.Reshape((-1, CLASSES, 2))(keras.layers.Dense(2 * CLASSES, name="pairs")(frames))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss={name: "mse" for name in outputs})
    return model


def test_compiled_losses_skip_filled_targets(mixed):
    keras.utils.set_random_seed(0)
    model = heads_model(pairs=True)
    # A frame target with two axes after time gets sample weights [B, 1, 1].
    clips = [
        ClipRecord(c.name, c.feature_path, {**c.labels, "pairs": np.stack([c.labels["strong"]] * 2, -1)}, c.clip_labels)
        if c.labels
        else c
        for c in mixed
    ]
    targets = {**TARGETS, "pairs": TargetSpec("frame", (CLASSES, 2))}
    # One batch of every segment: each loss is the sum of the present clips' losses over the number of values.
    segments = eval_segments(clips, frames_per_label=FRAMES_PER_LABEL, segment_frames=WINDOW)
    dataset = make_eval_dataset(
        clips, frames_per_label=FRAMES_PER_LABEL, segment_frames=WINDOW, batch_size=len(segments), targets=targets
    )
    x, y, w = as_numpy(next(iter(dataset)))
    assert {name: weight.shape for name, weight in w.items()} == {
        "strong": (len(segments), 1), "weak": (len(segments),), "pairs": (len(segments), 1, 1)
    }
    predicted = model.predict_on_batch(x)
    losses = model.evaluate(dataset, return_dict=True, verbose=0)
    for name in targets:
        values = ((predicted[name] - y[name]) ** 2).mean(axis=-1)  # Keras's unreduced mse: one axis fewer
        present = w[name].reshape(-1) == 1
        assert 0 < present.sum() < len(segments)
        np.testing.assert_allclose(losses[f"{name}_loss"], values[present].sum() / values.size, rtol=1e-5)

    # Training on clips that all lack "weak" leaves the weak head untouched.
    weak_kernel, strong_kernel = (model.get_layer(name).kernel.numpy() for name in ("weak", "strong"))
    options = dict(window_frames=WINDOW, frames_per_label=FRAMES_PER_LABEL, batch_size=2, seed=0, targets=targets)
    no_weak = make_train_dataset([ClipRecord(c.name, c.feature_path, c.labels) for c in clips[:2]], **options)
    assert next(iter(no_weak))[2]["weak"].numpy().tolist() == [0, 0]
    model.fit(no_weak, epochs=2, verbose=0, shuffle=False)
    np.testing.assert_array_equal(model.get_layer("weak").kernel.numpy(), weak_kernel)
    assert not np.array_equal(model.get_layer("strong").kernel.numpy(), strong_kernel)
    model.fit(make_train_dataset(clips[:2], **options), epochs=1, verbose=0, shuffle=False)
    assert not np.array_equal(model.get_layer("weak").kernel.numpy(), weak_kernel)


# -- clip outputs ----------------------------------------------------------------


def time_pooling_model(pooling: int = FRAMES_PER_LABEL) -> keras.Model:
    """Frame output "pooled" (each label frame's mean) and clip output "mean" (the mean over all input frames)."""
    inputs = keras.Input((None, BINS, CHANNELS))
    pooled = keras.layers.AveragePooling2D((pooling, 1))(inputs)
    mean = keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=1))(inputs)
    return keras.Model(inputs, {"pooled": pooled, "mean": mean})


@pytest.mark.parametrize("segment_frames, batch_size", [(20, 4), (15, 1), (None, 1)])
def test_clip_outputs_of_segments_are_averaged_by_unpadded_length(mixed, segment_frames, batch_size):
    predictions = predict_clips(
        time_pooling_model(),
        mixed,
        frames_per_label=FRAMES_PER_LABEL,
        segment_frames=segment_frames,
        batch_size=batch_size,
        clip_outputs=["mean"],
    )
    for clip, prediction in zip(mixed, predictions):
        features = np.load(clip.feature_path)
        n = len(features)
        assert prediction["pooled"].shape == (math.ceil(n / FRAMES_PER_LABEL), BINS, CHANNELS)
        if segment_frames is None:  # one piece: padded to a whole label frame
            expected = features.sum(axis=0) / (math.ceil(n / FRAMES_PER_LABEL) * FRAMES_PER_LABEL)
        else:  # each segment's mean counts as many times as the clip frames it covers
            starts = range(0, n, segment_frames)
            means = [features[s : s + segment_frames].sum(axis=0) / segment_frames for s in starts]
            covered = [min(segment_frames, n - s) for s in starts]
            expected = sum(c * m for c, m in zip(covered, means)) / n
        np.testing.assert_allclose(prediction["mean"], expected, rtol=1e-5)


def test_segment_outputs_are_each_segments_output_in_time_order(mixed):
    segment_frames = 15
    predictions = predict_clips(
        time_pooling_model(), mixed, frames_per_label=FRAMES_PER_LABEL, segment_frames=segment_frames, segment_outputs=["mean"]
    )
    for clip, prediction in zip(mixed, predictions):
        features = np.load(clip.feature_path)
        # Zero padding after the clip counts in the last segment's mean.
        expected = [features[s : s + segment_frames].sum(axis=0) / segment_frames for s in range(0, len(features), segment_frames)]
        np.testing.assert_allclose(prediction["mean"], np.stack(expected), rtol=1e-5)


def test_clip_outputs_must_be_named(mixed):
    with pytest.raises(ConfigError, match="clip_outputs"):
        predict_clips(time_pooling_model(), mixed, frames_per_label=FRAMES_PER_LABEL)
    with pytest.raises(ConfigError, match=r"clip_outputs: \['scene'\]"):
        predict_clips(time_pooling_model(), mixed, frames_per_label=FRAMES_PER_LABEL, clip_outputs=["mean", "scene"])


# -- multi-subset batches -------------------------------------------------------

COUNTS = {"strong": 2, "weak": 1, "unlabelled": 3}


def multi(mixed, **kwargs):
    options = dict(
        subsets={"unlabelled": mixed[4:], "strong": mixed[:2], "weak": mixed[2:4]},
        counts=COUNTS,
        epoch_subset="strong",
        window_frames=WINDOW,
        frames_per_label=FRAMES_PER_LABEL,
        seed=0,
        targets=TARGETS,
    )
    return make_multi_subset_dataset(**{**options, **kwargs})


def draw(dataset: tf.data.Dataset, num_batches: int) -> list[tuple]:
    return [as_numpy(element) for element in dataset.take(num_batches)]


def windows(batches) -> list[list[tuple[int, int]]]:
    return [[decode_window(window) for window in x] for x, _, _ in batches]


def test_multi_subset_batches_hold_fixed_slices_of_each_subset(mixed):
    dataset, steps = multi(mixed)
    assert steps == 2  # strong: 3 + 2 windows per pass, 2 per batch
    assert multi(mixed, epoch_subset="weak")[1] == 4  # 2 + 2 windows per pass, 1 per batch
    alone, steps_alone = multi(mixed, subsets={"weak": mixed[2:4]}, counts={"weak": 2}, epoch_subset="weak")
    assert steps_alone == 2 and {decode_window(x)[0] for x in next(iter(alone))[0].numpy()} <= {2, 3}
    x_spec, _, w_spec = dataset.element_spec
    assert x_spec.shape == (6, WINDOW, BINS, CHANNELS) and w_spec["weak"].shape == (6,)
    batches = draw(dataset, 10)
    presence = {"strong": [1, 1, 0, 0, 0, 0], "weak": [1, 1, 1, 0, 0, 0]}  # rows: strong, strong, weak, unlabelled x3
    rows = []
    for x, y, w in batches:
        for name in TARGETS:
            assert w[name].reshape(-1).tolist() == presence[name]
        for b in range(6):
            clip, start = decode_window(x[b])
            np.testing.assert_array_equal(
                y["strong"][b], expected_strong(clip, num_frames_of(mixed[clip]), start, WINDOW) * presence["strong"][b]
            )
            np.testing.assert_array_equal(y["weak"][b], weak_of(clip) * presence["weak"][b])
        rows.append([decode_window(x[b])[0] for b in range(6)])
    strong = [clip for row in rows for clip in row[:2]]
    weak = [row[2] for row in rows]
    unlabelled = [clip for row in rows for clip in row[3:]]
    # Each subset streams whole passes, one after the other: every clip's ceil(frames / W) windows each.
    for stream, per_pass in ((strong, [0, 0, 0, 1, 1]), (weak, [2, 2, 3, 3]), (unlabelled, [4, 4, 5])):
        full_passes = len(stream) // len(per_pass)
        assert full_passes >= 2
        for index in range(full_passes):
            assert sorted(stream[index * len(per_pass) : (index + 1) * len(per_pass)]) == per_pass


def test_multi_subset_batches_are_seeded_and_new_each_epoch(mixed):
    (first, steps), (second, _) = multi(mixed, seed=5), multi(mixed, seed=5)
    one_iterator = windows(draw(first, 2 * steps))
    assert one_iterator == windows(draw(second, 2 * steps))
    assert one_iterator[:steps] != one_iterator[steps:]  # the next epoch draws on
    assert one_iterator != windows(draw(multi(mixed, seed=6)[0], 2 * steps))


def test_multi_subset_batches_train_a_model(mixed):
    keras.utils.set_random_seed(0)
    dataset, steps = multi(mixed, counts={"strong": 1, "weak": 1, "unlabelled": 1})
    model = heads_model()
    history = model.fit(dataset, epochs=2, steps_per_epoch=steps, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_multi_subset_arguments_are_checked(mixed):
    with pytest.raises(ConfigError, match="counts: expected one per subset"):
        multi(mixed, counts={"strong": 2, "weak": 1})
    with pytest.raises(ConfigError, match=r"counts\['weak'\]"):
        multi(mixed, counts={**COUNTS, "weak": 0})
    with pytest.raises(ConfigError, match="epoch_subset"):
        multi(mixed, epoch_subset="strongly")
    with pytest.raises(ConfigError, match="subset 'weak': expected at least one clip"):
        multi(mixed, subsets={"unlabelled": mixed[4:], "strong": mixed[:2], "weak": []})
    with pytest.raises(ConfigError, match=r"subset 'strong': expected at least counts\['strong'\] \(6\)"):
        multi(mixed, counts={**COUNTS, "strong": 6})
    with pytest.raises(ConfigError, match="window_frames"):
        multi(mixed, window_frames=22)
