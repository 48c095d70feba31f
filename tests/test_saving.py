import subprocess
import sys
import textwrap


def test_a_fresh_process_loads_every_registered_model(tmp_path):
    """Saved in one interpreter, loaded in another that never imported the model's modules."""
    save = textwrap.dedent(
        f"""
        from seld_tf.models.registry import MODELS, build_model
        from seld_tf.models.phan2020 import PHAN2020_PRESETS
        small = {{"seldnet": {{"conv_filters": 4, "rnn_units": [4], "fc_units": 4}},
                 "phan2020": {{**PHAN2020_PRESETS["cpu"], "conv_filters": [4, 4, 4, 4, 4, 4], "rnn_units": 4}},
                 "einv2": {{"filters": [4, 4, 4, 8], "num_heads": 2, "ff_dim": 8, "mhsa_layers": 1}}}}
        assert set(small) == set(MODELS), "a registered model is missing from this test"
        for name, args in small.items():
            bins = 256 if name == "einv2" else 64
            build_model(name, input_shape=(None, bins, 7), num_classes=14, **args).save({str(tmp_path)!r} + f"/{{name}}.keras")
        """
    )
    load = textwrap.dedent(
        f"""
        import numpy as np
        from seld_tf.saving import load_model
        for name in ("seldnet", "phan2020", "einv2"):
            model = load_model({str(tmp_path)!r} + f"/{{name}}.keras")
            bins = 256 if name == "einv2" else 64
            outputs = model.predict_on_batch(np.zeros((1, 40, bins, 7), "float32"))
            assert {{"sed", "doa"}} <= set(outputs), (name, list(outputs))
        print("loaded")
        """
    )
    for script in (save, load):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("loaded")
