"""Built-in synthetic datasets, written in the layout of the real ones.

`seld` writes DCASE2020 Task 3 style spatial sound scenes (FOA and/or MIC)
from procedural event sounds (`sounds`) in simulated rooms (`rooms`).
"""

from seld_tf.datasets.synth.seld import (
    Scene,
    SceneEvent,
    SeldSynthConfig,
    SynthClip,
    render_scene,
    sample_scene,
    synthesize_clip,
    synthesize_seld_dataset,
)
from seld_tf.datasets.synth.sounds import SOUND_GENERATORS, synthesize_event

__all__ = [
    "SOUND_GENERATORS",
    "Scene",
    "SceneEvent",
    "SeldSynthConfig",
    "SynthClip",
    "render_scene",
    "sample_scene",
    "synthesize_clip",
    "synthesize_event",
    "synthesize_seld_dataset",
]
