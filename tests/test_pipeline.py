"""tf.data pipelines: window/label alignment, padding, determinism, evaluation reassembly.

The synthetic clips encode positions in their values: feature frame `t` of
clip `c` holds `(c + 1) * 1000 + t` and label frame `j` holds `(c + 1) * 1000
+ j`, so every window can be traced back to its clip and start, and zero means
padding.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.augment import SpecAugment
from seld_tf.datasets.dcase2020_seld import Dcase2020Dataset
from seld_tf.datasets.events import polar_to_cartesian
from seld_tf.errors import AnnotationError, ConfigError
from seld_tf.features.extract import FeatureCache
from seld_tf.tasks.seld import seld_clips_from_dataset
from seld_tf.pipeline import (
    ClipRecord,
    eval_segments,
    make_eval_dataset,
    make_train_dataset,
    predict_clips,
)

FRAMES_PER_LABEL = 5
WINDOW = 20  # 4 label frames
CLIP_FRAMES = (47, 30, 12)  # 10, 6 and 3 label frames; the last is shorter than a window
BINS, CHANNELS, CLASSES = 2, 1, 2


def encoded_clip(directory, index: int, num_frames: int, labelled: bool = True) -> ClipRecord:
    code = (index + 1) * 1000
    frames = code + np.arange(num_frames, dtype=np.float32)
    features = np.broadcast_to(frames[:, None, None], (num_frames, BINS, CHANNELS))
    path = directory / f"clip{index}.npy"
    np.save(path, np.ascontiguousarray(features))
    num_labels = math.ceil(num_frames / FRAMES_PER_LABEL)
    label_frames = code + np.arange(num_labels, dtype=np.float32)
    labels = {
        "sed": np.repeat(label_frames[:, None], CLASSES, axis=1),
        "doa": np.repeat(label_frames[:, None, None], CLASSES * 3, axis=1).reshape(num_labels, CLASSES, 3),
    }
    return ClipRecord(f"clip{index}", str(path), labels if labelled else {})


@pytest.fixture
def clips(tmp_path) -> list[ClipRecord]:
    return [encoded_clip(tmp_path, index, frames) for index, frames in enumerate(CLIP_FRAMES)]


def decode_window(features: np.ndarray) -> tuple[int, int]:
    """Clip index and start frame of a window from its first feature frame."""
    first = int(features[0, 0, 0])
    return first // 1000 - 1, first % 1000


def expected_window(clip: int, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Encoded feature frames and label frames of a window, zero past the clip's end."""
    frames = start + np.arange(length)
    features = np.where(frames < CLIP_FRAMES[clip], (clip + 1) * 1000 + frames, 0)
    num_labels = math.ceil(CLIP_FRAMES[clip] / FRAMES_PER_LABEL)
    label_frames = start // FRAMES_PER_LABEL + np.arange(length // FRAMES_PER_LABEL)
    labels = np.where(label_frames < num_labels, (clip + 1) * 1000 + label_frames, 0)
    return features, labels


def check_window(features: np.ndarray, labels: dict, length: int) -> tuple[int, int]:
    """Assert that a window's labels are those of its features' frames; return (clip, start)."""
    clip, start = decode_window(features)
    expected_features, expected_labels = expected_window(clip, start, length)
    np.testing.assert_array_equal(features, np.broadcast_to(expected_features[:, None, None], features.shape))
    np.testing.assert_array_equal(labels["sed"], np.broadcast_to(expected_labels[:, None], labels["sed"].shape))
    np.testing.assert_array_equal(labels["doa"], np.broadcast_to(expected_labels[:, None, None], labels["doa"].shape))
    return clip, start


def epoch(dataset: tf.data.Dataset) -> list[tuple[np.ndarray, dict]]:
    return [(x.numpy(), {k: v.numpy() for k, v in y.items()}) for x, y in dataset]


def train(clips, **kwargs) -> tf.data.Dataset:
    options = dict(window_frames=WINDOW, frames_per_label=FRAMES_PER_LABEL, batch_size=2, seed=0)
    return make_train_dataset(clips, **{**options, **kwargs})


def test_training_windows_align_labels_with_features_and_pad_short_clips(clips):
    dataset = train(clips)
    x_spec, y_spec = dataset.element_spec
    assert x_spec.shape == (2, WINDOW, BINS, CHANNELS)
    assert y_spec["sed"].shape == (2, 4, CLASSES) and y_spec["doa"].shape == (2, 4, CLASSES, 3)
    # Default epoch: ceil(frames / window) windows per clip = 3 + 2 + 1, in batches of 2.
    assert dataset.cardinality() == 3
    windows = []
    for x, y in epoch(dataset):
        for b in range(len(x)):
            windows.append(check_window(x[b], {k: v[b] for k, v in y.items()}, WINDOW))
    assert sorted(clip for clip, _ in windows) == [0, 0, 0, 1, 1, 2]
    for clip, start in windows:
        assert start % FRAMES_PER_LABEL == 0
        assert start // FRAMES_PER_LABEL <= max(0, math.ceil(CLIP_FRAMES[clip] / FRAMES_PER_LABEL) - 4)
    assert (2, 0) in windows  # the 12-frame clip: one window from its start, zero-padded


def test_window_starts_cover_every_label_frame_boundary(clips):
    starts = {clip: set() for clip in range(3)}
    for x, _ in epoch(train(clips, windows_per_clip=40, batch_size=8)):
        for clip, start in map(decode_window, x):
            starts[clip].add(start)
    assert starts == {0: {0, 5, 10, 15, 20, 25, 30}, 1: {0, 5, 10}, 2: {0}}


def test_same_seed_same_epochs_new_windows_each_epoch(clips):
    first, second = train(clips, seed=3), train(clips, seed=3)
    epochs = [epoch(first), epoch(first)]
    for expected in epochs:
        for (x1, y1), (x2, y2) in zip(expected, epoch(second)):
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1["doa"], y2["doa"])

    def windows(batches):
        return [decode_window(x) for batch, _ in batches for x in batch]

    assert windows(epochs[0]) != windows(epochs[1])
    assert windows(epochs[0]) != windows(epoch(train(clips, seed=4)))


def test_unshuffled_windows_follow_clip_order_with_new_starts_each_epoch(clips):
    dataset = train(clips, shuffle=False)
    first, second = ([decode_window(x) for batch, _ in epoch(dataset) for x in batch] for _ in range(2))
    assert [clip for clip, _ in first] == [clip for clip, _ in second] == [0, 0, 0, 1, 1, 2]
    assert first != second


def test_augmentations_run_on_batches_in_order_and_then_the_label_transform(clips):
    def negate_doa(features, labels):
        return features, {**labels, "doa": -labels["doa"]}

    def run():
        augment = [SpecAugment(time_masks=2, time_mask_width=8, freq_masks=0, fill=-1.0, seed=1), negate_doa]
        dataset = train(clips, augment=augment, label_transform=lambda y: {"doa": y["doa"], "sed": 2 * y["sed"]})
        return epoch(dataset)

    first = run()
    for (x1, y1), (x2, y2) in zip(first, run()):
        np.testing.assert_array_equal(x1, x2)
    assert any((x == -1).any() for x, _ in first)
    for x, y in first:
        for b in range(len(x)):
            unmasked = x[b][(x[b] != -1).all(axis=(1, 2))]
            _, expected_labels = expected_window(*decode_window(unmasked), WINDOW)
            np.testing.assert_array_equal(y["doa"][b, :, 0, 0], -expected_labels)
            np.testing.assert_array_equal(y["sed"][b, :, 0], 2 * expected_labels)


def test_bad_training_arguments_are_rejected(clips, tmp_path):
    with pytest.raises(ConfigError, match="window_frames"):
        train(clips, window_frames=22)
    with pytest.raises(ConfigError, match="batch_size"):
        train(clips, batch_size=7)
    short_labels = ClipRecord("bad", clips[0].feature_path, {k: v[:-1] for k, v in clips[0].labels.items()})
    with pytest.raises(ConfigError, match="bad"):
        train([clips[1], short_labels])
    np.save(tmp_path / "wide.npy", np.zeros((30, BINS + 1, CHANNELS), np.float32))
    with pytest.raises(ConfigError, match="wide.npy"):
        train([clips[1], ClipRecord("wide", str(tmp_path / "wide.npy"), clips[1].labels)])


def test_eval_segments_cover_each_clip_in_order(clips):
    assert [tuple(s) for s in eval_segments(clips, frames_per_label=5)] == [(0, 0, 50), (1, 0, 30), (2, 0, 15)]
    segments = eval_segments(clips, frames_per_label=5, segment_frames=20)
    assert [tuple(s) for s in segments] == [(0, 0, 20), (0, 20, 20), (0, 40, 20), (1, 0, 20), (1, 20, 20), (2, 0, 20)]
    with pytest.raises(ConfigError, match="segment_frames"):
        eval_segments(clips, frames_per_label=5, segment_frames=12)


@pytest.mark.parametrize("segment_frames, batch_size", [(10, 3), (None, 2)])
def test_eval_dataset_yields_the_segments_in_order(clips, segment_frames, batch_size):
    dataset = make_eval_dataset(clips, frames_per_label=5, segment_frames=segment_frames, batch_size=batch_size)
    segments = iter(eval_segments(clips, frames_per_label=5, segment_frames=segment_frames))
    for x, y in epoch(dataset):
        for b in range(len(x)):
            segment = next(segments)
            length = segment.length
            # Whole clips are padded to the longest clip of their batch.
            assert np.all(x[b, length:] == 0) and np.all(y["sed"][b, length // 5 :] == 0)
            assert check_window(x[b, :length], {k: v[b, : length // 5] for k, v in y.items()}, length) == (
                segment.clip_index,
                segment.start,
            )
    assert next(segments, None) is None


def pooling_model() -> keras.Model:
    """Averages each label frame's feature frames: outputs one frame per label frame."""
    inputs = keras.Input((None, BINS, CHANNELS))
    pooled = keras.layers.AveragePooling2D((FRAMES_PER_LABEL, 1))(inputs)
    return keras.Model(inputs, {"pooled": pooled, "doubled": keras.layers.Rescaling(2.0)(pooled)})


@pytest.mark.parametrize("segment_frames, batch_size", [(10, 4), (15, 1), (None, 2)])
def test_predict_clips_reassembles_whole_clip_outputs(tmp_path, segment_frames, batch_size):
    unlabelled = [encoded_clip(tmp_path, index, frames, labelled=False) for index, frames in enumerate(CLIP_FRAMES)]
    predictions = predict_clips(
        pooling_model(), unlabelled, frames_per_label=5, segment_frames=segment_frames, batch_size=batch_size
    )
    assert len(predictions) == len(CLIP_FRAMES)
    for clip, (prediction, num_frames) in enumerate(zip(predictions, CLIP_FRAMES)):
        num_labels = math.ceil(num_frames / 5)
        padded = np.zeros((num_labels * 5, BINS, CHANNELS), np.float32)
        padded[:num_frames] = np.load(unlabelled[clip].feature_path)
        expected = padded.reshape(num_labels, 5, BINS, CHANNELS).mean(axis=1)
        np.testing.assert_allclose(prediction["pooled"], expected, rtol=1e-6)
        np.testing.assert_allclose(prediction["doubled"], 2 * expected, rtol=1e-6)


def test_predict_clips_rejects_a_model_at_another_frame_rate(clips):
    inputs = keras.Input((None, BINS, CHANNELS))
    model = keras.Model(inputs, {"sed": keras.layers.Identity()(inputs)})
    with pytest.raises(ConfigError, match="frames_per_label"):
        predict_clips(model, clips, frames_per_label=5)


@pytest.fixture
def dcase_folder(tmp_path):
    """A one-clip DCASE2020 layout (the audio file is not read) and a 23-frame feature cache entry."""
    name = "fold1_room1_mix001_ov1"
    (tmp_path / "foa_dev").mkdir()
    (tmp_path / "foa_dev" / f"{name}.wav").touch()
    (tmp_path / "metadata_dev").mkdir()
    (tmp_path / "metadata_dev" / f"{name}.csv").write_text("0,3,0,90,0\n1,3,0,90,0\n4,5,1,-90,10\n")
    (tmp_path / "cache").mkdir()
    np.save(tmp_path / "cache" / f"{name}.npy", np.zeros((23, 4, 7), np.float32))
    return Dcase2020Dataset(tmp_path), FeatureCache(tmp_path / "cache")


def test_seld_clips_from_dataset_builds_both_label_forms(dcase_folder):
    dataset, cache = dcase_folder
    (clip,) = seld_clips_from_dataset(dataset, cache, dataset.clips(), label_form="classwise")
    assert clip.feature_path == str(cache.entry_path(clip.name))
    assert clip.labels["sed"].shape == (5, 14) and clip.labels["doa"].shape == (5, 14, 3)  # ceil(23 / 5) frames
    assert np.argwhere(clip.labels["sed"]).tolist() == [[0, 3], [1, 3], [4, 5]]
    np.testing.assert_allclose(clip.labels["doa"][4, 5], polar_to_cartesian(-90, 10), atol=1e-6)
    (clip,) = seld_clips_from_dataset(dataset, cache, dataset.clips(), label_form="trackwise", num_tracks=3)
    assert clip.labels["sed"].shape == (5, 3, 14) and clip.labels["doa"].shape == (5, 3, 3)
    np.testing.assert_allclose(clip.labels["doa"][0, 0], [0, 1, 0], atol=1e-6)
    assert clip.labels["sed"][4, 0, 5] == 1  # the later event takes the slot freed after frame 1
    with pytest.raises(ConfigError, match="label_form"):
        seld_clips_from_dataset(dataset, cache, dataset.clips(), label_form="polar")
    with pytest.raises(ConfigError, match="no cached features"):
        seld_clips_from_dataset(dataset, FeatureCache(cache.root.parent), dataset.clips())


@pytest.mark.parametrize("label_form", ["classwise", "trackwise"])
def test_seld_clips_from_dataset_refuses_repeated_metadata_rows_in_both_label_forms(dcase_folder, label_form):
    # Trackwise used to fail with a ValueError naming no file, class-wise to drop the repeat silently.
    dataset, cache = dcase_folder
    (clip,) = dataset.clips()
    with open(clip.metadata_path, "a") as handle:
        handle.write("1,3,0,90,0\n")
    with pytest.raises(AnnotationError, match=r"row 4: .*frame 1, class 3, track 0 again \(first at row 2\)") as caught:
        seld_clips_from_dataset(dataset, cache, [clip], label_form=label_form)
    assert caught.value.path == clip.metadata_path
