"""Shared fixtures: a tiny synthetic SELD dataset in the real DCASE2020 layout."""

import pytest

from seld_tf.datasets.synth.seld import SeldSynthConfig, synthesize_seld_dataset


@pytest.fixture(scope="session")
def tiny_seld_dataset(tmp_path_factory):
    """12 clips x 3 s, FOA and MIC, two per fold (one ov1, one ov2). Treat as read-only."""
    root = tmp_path_factory.mktemp("tiny_seld")
    config = SeldSynthConfig(num_clips=12, duration=3.0, seed=7)
    synthesize_seld_dataset(root, config, formats=("foa", "mic"), progress=False)
    return root
