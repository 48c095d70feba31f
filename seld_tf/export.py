"""Exporting a run for serving: a TensorFlow SavedModel that runs without the package.

`export_run(RUN_DIR, OUT_DIR)` writes::

    OUT_DIR/saved_model.pb, variables/, ...   the SavedModel: `tf.saved_model.load(OUT_DIR)`
    OUT_DIR/model.keras                       the run's best snapshot (loading it needs seld_tf)
    OUT_DIR/seld_tf/recipe.yaml, run.json     the run's recipe and record: how `seld-tf predict` decodes
    OUT_DIR/seld_tf/export.json               the facts a caller needs: sample rate, loudness, channels, shapes

The SavedModel has two signatures, both float32 in and a dict of the named
outputs of the task's inference model (`Task.inference_model`) out (for SELD,
`sed` and `doa`; for DESED, `strong` and `weak`):

- `serving_default(features)`: cached features `[batch, frames, bins,
  channels]`, raw as the feature cache holds them (the scaler is in the model);
- `serving_audio(audio)`: waveforms `[batch, samples, channels]` at the
  feature preset's sample rate; the features are computed in the graph by
  `compute_features_tf`, as the cache's "tf" backend computes them. Each
  batch element is featurised as one whole clip (the dB floor, `top_db`,
  is relative to each clip's loudest frame), so batch only clips of equal length.
  When the preset normalises loudness (`FeatureConfig.loudness_lufs`,
  export.json's `loudness_lufs`), the audio must come normalised to it (as
  `seld_tf.features.extract.normalize_loudness` does), just as it must come
  at the sample rate: the BS.1770 measurement (pyloudnorm) has no graph form.

Both pad the frames to a multiple of the model's time pooling, so any length
runs; frame outputs have `ceil(frames / frames_per_label)` frames. The export
is built in a temporary sibling folder and renamed into place, so `OUT_DIR`
either holds a complete export or does not exist.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from seld_tf.errors import FileError
from seld_tf.runs import RunFolder, load_run

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from seld_tf.recipes import Recipe
    from seld_tf.tasks.base import FeatureFrontEnd

FEATURES_SIGNATURE = "serving_default"
AUDIO_SIGNATURE = "serving_audio"
SAVED_MODEL_FILE = "saved_model.pb"
KERAS_FILE = "model.keras"
# The package's own files, apart from the SavedModel's.
META_DIR = "seld_tf"
RUN_FILES = ("recipe.yaml", "run.json")


def is_export(path: str | os.PathLike) -> bool:
    """Whether `path` holds a SavedModel: an export, unless `load_export` finds no package files in it."""
    return (Path(path) / SAVED_MODEL_FILE).is_file()


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write the export of a run's best snapshot into `out_dir` (see the module docstring); return it.

    Raises:
        RunError: `run_dir` is not a run folder.
        FileError: `out_dir` exists and is not an empty folder.
        ConfigError: the run's task does not say how audio becomes features.
    """
    from seld_tf.features import format_audio_channels
    from seld_tf.tasks import task_class

    out = Path(out_dir)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise FileError(out, "already exists; choose another --out or delete it")
    recipe, record, model = load_run(run_dir)
    task = task_class(recipe.task)(recipe)
    front_end = task.feature_front_end(record)
    model = task.inference_model(model)
    _, _, bins, channels = model.input_shape
    # "logmel" takes any channel count: one log-mel per audio channel.
    audio_channels = format_audio_channels(front_end.array_format) or channels
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        os.chmod(scratch, 0o755)  # mkdtemp's 0700 would stay with the renamed export
        _write_saved_model(model, front_end, bins, channels, audio_channels, scratch)
        shutil.copyfile(RunFolder(run_dir).best, scratch / KERAS_FILE)
        meta = scratch / META_DIR
        meta.mkdir()
        for name in RUN_FILES:
            shutil.copyfile(Path(run_dir) / name, meta / name)
        facts = {
            "task": recipe.task,
            "signatures": [FEATURES_SIGNATURE, AUDIO_SIGNATURE],
            "sample_rate": front_end.config.sample_rate,
            # None: serving_audio takes the audio as it is.
            "loudness_lufs": front_end.config.loudness_lufs,
            "audio_channels": audio_channels,
            "feature_shape": [bins, channels],
            "frames_per_label": front_end.frames_per_label,
        }
        # A plain write: the folder's rename makes the export atomic, and a shipped file should be world-readable.
        (meta / "export.json").write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(scratch, out)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return out


def _write_saved_model(
    model: keras.Model, front_end: FeatureFrontEnd, bins: int, channels: int, audio_channels: int, path: Path
) -> None:
    import keras
    import tensorflow as tf

    from seld_tf.features import compute_features_tf

    def serve_features(features):
        # The eval pipeline zero-pads raw features the same way before the scaler.
        missing = -tf.shape(features)[1] % front_end.frames_per_label
        return model(tf.pad(features, [[0, 0], [0, missing], [0, 0], [0, 0]]), training=False)

    def serve_audio(audio):
        return serve_features(compute_features_tf(audio, front_end.config, front_end.array_format))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        FEATURES_SIGNATURE, serve_features, input_signature=[tf.TensorSpec([None, None, bins, channels], tf.float32, "features")]
    )
    archive.add_endpoint(
        AUDIO_SIGNATURE, serve_audio, input_signature=[tf.TensorSpec([None, None, audio_channels], tf.float32, "audio")]
    )
    archive.write_out(os.fspath(path), verbose=False)


class SavedModelPredictor:
    """An export's `serving_default` signature, called as `seld_tf.pipeline.predict_clips` calls a Keras model."""

    def __init__(self, path: str | os.PathLike):
        import tensorflow as tf

        # The signature's variables live as long as the loaded object does.
        self._saved_model = tf.saved_model.load(os.fspath(path))
        self._signature = self._saved_model.signatures[FEATURES_SIGNATURE]

    def predict_on_batch(self, features: tf.Tensor | np.ndarray) -> Mapping[str, np.ndarray]:
        return {name: value.numpy() for name, value in self._signature(features=features).items()}


def load_export(path: str | os.PathLike) -> tuple[Recipe, dict, SavedModelPredictor]:
    """`(recipe, run record, SavedModelPredictor)` of an export folder.

    Raises:
        FileError: `path` is a SavedModel without the package's files.
    """
    from seld_tf.recipes import load_recipe

    meta = Path(path) / META_DIR
    for name in RUN_FILES:
        if not (meta / name).is_file():
            raise FileError(path, f"a SavedModel but not a seld-tf export: no {META_DIR}/{name}")
    record = json.loads((meta / "run.json").read_text(encoding="utf-8"))
    return load_recipe(meta / "recipe.yaml"), record, SavedModelPredictor(path)
