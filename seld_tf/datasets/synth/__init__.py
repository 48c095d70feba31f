"""Built-in synthetic datasets, written in the layout of the real ones.

`seld` writes DCASE2020 Task 3 style spatial sound scenes (FOA and/or MIC)
from procedural event sounds (`sounds`) in simulated rooms (`rooms`);
`desed`, `tut` and `weakmix` write stand-ins for DESED, TUT and the 2APAE
remix from the same sounds; `common` holds what the generators share
(worker pool, TSV writer, peak level, report timing).
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
