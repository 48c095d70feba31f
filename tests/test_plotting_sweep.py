"""plot_weight_sweep: Fig. 2 of Nada et al. (2022), scores against a loss weight with seed bands."""

import numpy as np
import pytest

from seld_tf.errors import ConfigError
from seld_tf.plotting import plot_weight_sweep

SWEEPS = {
    "Conventional MTL": {0.001: [{"f": 0.5}, {"f": 0.7}], 0.1: [{"f": 0.4}, {"f": 0.4}, {"f": 0.7}]},
    "Proposed": {0.001: [{"f": 0.6}], 0.1: [{"f": 0.3}, {"f": 0.5}]},
}


def test_lines_are_seed_means_and_bands_one_sample_std():
    fig = plot_weight_sweep(SWEEPS, {"f": "F"})
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["Conventional MTL"].get_xdata(), [0.001, 0.1])
    np.testing.assert_allclose(lines["Conventional MTL"].get_ydata(), [60.0, 50.0])
    np.testing.assert_allclose(lines["Proposed"].get_ydata(), [60.0, 40.0])
    (band, _) = ax.collections
    lower, upper = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    # Conventional at 0.1: 50 +- std(40, 40, 70; ddof=1) = 50 +- 17.32; at 0.001: 60 +- 14.14.
    assert lower == pytest.approx(50 - np.std([40, 40, 70], ddof=1))
    assert upper == pytest.approx(60 + np.std([50, 70], ddof=1))
    # One legend for the figure, outside the panel.
    assert ax.get_legend() is None and len(fig.legends) == 1


def test_non_positive_weights_and_missing_scores_are_refused():
    with pytest.raises(ConfigError, match="positive"):
        plot_weight_sweep({"a": {0.0: [{"f": 1.0}]}}, {"f": "F"})
    with pytest.raises(ConfigError, match="no score 'g'"):
        plot_weight_sweep(SWEEPS, {"g": "G"})
