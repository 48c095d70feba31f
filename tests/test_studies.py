"""Tests of seld_tf.studies.multiseed with fake training and evaluation (no TensorFlow)."""

import dataclasses
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from seld_tf.runs import RunFolder
from seld_tf.studies import multiseed
from seld_tf.studies.multiseed import (
    MeanStd,
    aggregate,
    describe_seeds,
    markdown_table,
    mean_std_cells,
    run_seeds,
    study_command,
    synthesize_unless_present,
    write_markdown,
)


@dataclasses.dataclass(frozen=True)
class FakeRecipe:
    name: str = "fake"
    seed: int = -1

    def replace(self, training):
        return dataclasses.replace(self, seed=training["seed"])


class FakeStudy:
    """Fake `train` and `evaluate_run`: record their calls, write what the real ones write."""

    def __init__(self, kill_first=0):
        self.trained, self.evaluated = [], []
        self.kill_first = kill_first

    def train(self, recipe, data_dir, run_dir, *, cache_dir, verbose, progress):
        self.trained.append((recipe.seed, Path(run_dir)))
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        if self.kill_first:
            self.kill_first -= 1
            raise KeyboardInterrupt("killed before the run finished")
        RunFolder(run_dir).mark_finished({"seed": recipe.seed})

    def evaluate(self, run_dir, data_dir, split, cache_dir=None, progress=True, log=print):
        self.evaluated.append((Path(run_dir).name, split))
        scores = {"SELD": 0.5 + int(Path(run_dir).name.removeprefix("seed")) / 10, "split": split}
        (Path(run_dir) / f"metrics_{split}.json").write_text(json.dumps(scores))
        return scores

    def run(self, work, seeds, **kwargs):
        return run_seeds(
            FakeRecipe(), seeds, work / "data", work, train_fn=self.train, evaluate_fn=self.evaluate, log=lambda _: None,
            **kwargs,
        )


@pytest.fixture
def clock(monkeypatch):
    """`perf_counter` of the module advanced by hand, in minutes."""
    now = [0.0]
    monkeypatch.setattr(multiseed, "perf_counter", lambda: now[0] * 60)
    return now


def test_run_seeds_trains_each_seed_once_and_reuses_its_scores(tmp_path):
    study = FakeStudy()
    results = study.run(tmp_path, [0, 1])
    assert study.trained == [(0, tmp_path / "fake" / "seed0"), (1, tmp_path / "fake" / "seed1")]
    assert study.evaluated == [("seed0", "validation"), ("seed0", "test"), ("seed1", "validation"), ("seed1", "test")]
    assert [result.seed for result in results] == [0, 1]
    assert results[1].scores == {"validation": {"SELD": 0.6, "split": "validation"}, "test": {"SELD": 0.6, "split": "test"}}

    again = FakeStudy()
    assert again.run(tmp_path, [0, 1]) == results
    assert again.trained == [] and again.evaluated == [], "a finished run was retrained or rescored"

    more = FakeStudy()
    more.run(tmp_path, [0, 1, 2], splits=("test",))
    assert more.trained == [(2, tmp_path / "fake" / "seed2")]
    assert more.evaluated == [("seed2", "test")]


def test_run_seeds_resumes_an_unfinished_run_and_sums_its_minutes(tmp_path, clock):
    killed = FakeStudy(kill_first=1)
    killed.train = _taking(killed.train, clock, minutes=3.0)
    with pytest.raises(KeyboardInterrupt):
        killed.run(tmp_path, [4])
    run_dir = tmp_path / "fake" / "seed4"
    assert not RunFolder(run_dir).finished
    assert json.loads((run_dir / "study_minutes.json").read_text()) == {"minutes": 3.0}

    resumed = FakeStudy()
    resumed.train = _taking(resumed.train, clock, minutes=2.0)
    [result] = resumed.run(tmp_path, [4])
    assert resumed.trained == [(4, run_dir)], "the unfinished run was not trained again in its folder"
    assert result.minutes == 5.0

    [result] = FakeStudy().run(tmp_path, [4])
    assert result.minutes == 5.0, "minutes of a finished run changed without training"


def _taking(train, clock, minutes):
    def timed(*args, **kwargs):
        clock[0] += minutes
        return train(*args, **kwargs)

    return timed


def test_scores_written_before_the_run_finished_are_recomputed(tmp_path):
    FakeStudy().run(tmp_path, [0])
    run = RunFolder(tmp_path / "fake" / "seed0")
    finished = run.finished_marker.stat().st_mtime
    os.utime(run.path / "metrics_test.json", (finished - 10, finished - 10))
    study = FakeStudy()
    study.run(tmp_path, [0])
    assert study.evaluated == [("seed0", "test")]


def test_aggregate_is_the_mean_and_sample_std_over_seeds():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 2))
    samples = [{"ER": er, "F": f, "ignored": 1.0} for er, f in values]
    aggregated = aggregate(samples, ("ER", "F"))
    assert list(aggregated) == ["ER", "F"]
    for column, key in enumerate(("ER", "F")):
        assert aggregated[key].mean == pytest.approx(np.mean(values[:, column]))
        assert aggregated[key].std == pytest.approx(np.std(values[:, column], ddof=1))


def test_one_seed_has_no_std_and_shows_the_mean_alone():
    [(mean, std)] = aggregate([{"SELD": 0.4751}], ["SELD"]).values()
    assert mean == 0.4751 and math.isnan(std)
    assert MeanStd(mean, std).format(".3f") == "0.475"
    with pytest.raises(ValueError):
        aggregate([], ["SELD"])


def test_cells_and_table_on_a_hand_worked_example():
    # SELD 0.5 and 0.7: mean 0.6, sample std sqrt(2 * 0.1**2 / 1) = 0.1414.
    # LE 20 and 22.5: mean 21.25, sample std sqrt(2 * 1.25**2 / 1) = 1.7678.
    samples = [{"SELD": 0.5, "LE": 20.0}, {"SELD": 0.7, "LE": 22.5}]
    cells = mean_std_cells(samples, {"LE": ".2f", "SELD": ".3f"})
    assert cells == ["21.25 ± 1.77", "0.600 ± 0.141"]
    assert markdown_table(["setting", "LE_CD", "SELD"], [["EINV2", *cells], ["one seed", "20.00", "0.500"]]) == [
        "| setting | LE_CD | SELD |",
        "|---|---|---|",
        "| EINV2 | 21.25 ± 1.77 | 0.600 ± 0.141 |",
        "| one seed | 20.00 | 0.500 |",
    ]


def test_write_markdown_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "results.md"
    write_markdown(path, ["# old", "", "| a |"])
    assert path.read_text(encoding="utf-8") == "# old\n\n| a |\n"

    def failing_lines():
        yield "# new"
        raise RuntimeError("a score is missing")

    with pytest.raises(RuntimeError):
        write_markdown(path, failing_lines())
    assert path.read_text(encoding="utf-8") == "# old\n\n| a |\n"
    assert os.listdir(tmp_path) == ["results.md"], "temporary file left behind"


def test_synthesize_unless_present_skips_a_complete_dataset(tmp_path):
    made = []

    def synthesize(out_dir, config, progress):
        made.append((config, progress))
        Path(out_dir).mkdir(exist_ok=True)
        # The first synthesis is cut short: no synth_config.json.
        if len(made) > 1:
            (Path(out_dir) / "synth_config.json").write_text("{}")

    synthesize_unless_present(tmp_path / "data", "config", synthesize=synthesize)
    synthesize_unless_present(tmp_path / "data", "config", synthesize=synthesize)
    synthesize_unless_present(tmp_path / "data", "config", synthesize=synthesize)
    assert made == [("config", False), ("config", False)], "an interrupted dataset was kept, or a complete one remade"


def test_describe_seeds_and_study_command(tmp_path, monkeypatch):
    assert describe_seeds([0]) == "One trial per setting (training seed 0)"
    assert describe_seeds([3, 4]).startswith("2 trials per setting (training seeds 3, 4): cells are mean ± sample")
    assert describe_seeds([3, 4]).endswith("the figure shows the runs of seed 3")
    assert describe_seeds([3, 4], figure="mean").endswith("the figure shows the mean over the trials with a ± std band")
    monkeypatch.setattr(sys, "argv", ["run_study.py", "--epochs", "60", "--work", "a b"])
    script = tmp_path / "experiments" / "x" / "run_study.py"
    assert study_command(script, tmp_path) == ".venv/bin/python experiments/x/run_study.py --epochs 60 --work 'a b'"


def test_a_signed_format_signs_the_mean_and_not_the_spread():
    assert MeanStd(-0.0512, 0.0321).format("+.3f") == "-0.051 ± 0.032"
    assert MeanStd(0.0512, 0.0321).format(".3f") == "0.051 ± 0.032"


def test_paired_differences_match_seeds_not_positions():
    def runs(scores_by_seed):
        return [multiseed.SeedResult(seed, Path(f"s{seed}"), 1.0, {"test": {"F": f}}) for seed, f in scores_by_seed]

    # The second setting lists its seeds in another order: pairing is by seed.
    a, b = runs([(0, 0.50), (1, 0.40), (2, 0.70)]), runs([(2, 0.60), (0, 0.45), (1, 0.42)])
    differences = multiseed.paired_differences(a, b, "test", ["F"], scale=100)
    assert list(differences) == [0, 1, 2]
    assert [round(row["F"], 6) for row in differences.values()] == [5.0, -2.0, 10.0]
    with pytest.raises(ValueError, match="same seeds"):
        multiseed.paired_differences(a, b[:2], "test", ["F"])
