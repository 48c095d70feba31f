import json

import pytest
import soundfile as sf

from seld_tf.cli import main


def test_synth_writes_the_requested_format_only(tmp_path, capsys):
    out = tmp_path / "synth"
    code = main(["--quiet", "synth", "seld", "--format", "mic", "--out", str(out), "--clips", "2", "--duration", "1", "--seed", "3"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clips"] == 2
    wavs = sorted(p.name for p in (out / "mic_dev").glob("*.wav"))
    assert wavs == ["fold1_room1_mix001_ov1.wav", "fold2_room3_mix001_ov1.wav"]
    assert not (out / "foa_dev").exists()
    info = sf.info(out / "mic_dev" / wavs[0])
    assert (info.samplerate, info.channels, info.frames) == (24000, 4, 24000)
    assert sorted(p.stem for p in (out / "metadata_dev").glob("*.csv")) == [w[:-4] for w in wavs]


def test_features_on_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    code = main(["--quiet", "features", str(tmp_path / "nowhere"), "--format", "foa", "--out", str(tmp_path / "c")])
    assert code == 1
    assert "nowhere" in capsys.readouterr().err


def test_unknown_preset_lists_the_known_ones(tiny_seld_dataset, tmp_path, capsys):
    code = main(["--quiet", "features", str(tiny_seld_dataset), "--format", "foa", "--out", str(tmp_path / "c"), "--preset", "nope"])
    assert code == 1
    err = capsys.readouterr().err
    assert "nope" in err and "dcase2020" in err and "einv2" in err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--clips", "0", "num_clips must be >= 1, got 0"),
        ("--clips", "-2", "num_clips must be >= 1, got -2"),
        ("--duration", "0", "duration must be a positive multiple of 0.1 s, got 0.0"),
        ("--duration", "-1", "duration must be a positive multiple of 0.1 s, got -1.0"),
    ],
)
def test_synth_refuses_an_empty_dataset(tmp_path, capsys, option, value, message):
    out = tmp_path / "synth"
    code = main(["--quiet", "synth", "seld", "--out", str(out), "--duration", "1", option, value])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("seld-tf: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
