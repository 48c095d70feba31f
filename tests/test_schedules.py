"""Tests of seld_tf.schedules against a plain-Python statement of the definition."""

import json
import math

import keras
import numpy as np
import pytest

from seld_tf.errors import ConfigError
from seld_tf.schedules import WarmupExponentialDecay

STEPS_PER_EPOCH = 7

PHAN = dict(
    initial_learning_rate=2e-4,
    decay_epochs=[200, 600, 1000],
    decay_rate=0.8,
    warmup_epochs=10,
    warmup_learning_rate=2e-5,
)
EINV2 = dict(initial_learning_rate=5e-4, decay_epochs=[80], decay_rate=0.1)


def reference_learning_rate(
    epoch, initial_learning_rate, decay_epochs=(), decay_rate=1.0, warmup_epochs=0,
    warmup_learning_rate=None,
):
    """The definition, written independently of the implementation."""
    if epoch < warmup_epochs:
        return warmup_learning_rate
    decays = len([boundary for boundary in decay_epochs if epoch >= boundary])
    return initial_learning_rate * decay_rate**decays


@pytest.mark.parametrize(
    "settings, epoch, literal",
    [
        (PHAN, 0, 2e-5),
        (PHAN, 9, 2e-5),
        (PHAN, 10, 2e-4),
        (PHAN, 199, 2e-4),
        (PHAN, 200, 2e-4 * 0.8),
        (PHAN, 599, 2e-4 * 0.8),
        (PHAN, 600, 2e-4 * 0.64),
        (PHAN, 999, 2e-4 * 0.64),
        (PHAN, 1000, 2e-4 * 0.512),
        (PHAN, 5000, 2e-4 * 0.512),
        (EINV2, 0, 5e-4),
        (EINV2, 79, 5e-4),
        (EINV2, 80, 5e-5),
        (EINV2, 89, 5e-5),
    ],
)
def test_values_at_epoch_boundaries(settings, epoch, literal):
    schedule = WarmupExponentialDecay(steps_per_epoch=STEPS_PER_EPOCH, **settings)
    expected = reference_learning_rate(epoch, **settings)
    assert expected == pytest.approx(literal)
    # First and last step of the epoch.
    for step in (epoch * STEPS_PER_EPOCH, (epoch + 1) * STEPS_PER_EPOCH - 1):
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6)


def test_serialization_round_trip():
    schedule = WarmupExponentialDecay(steps_per_epoch=STEPS_PER_EPOCH, **PHAN)
    config = keras.saving.serialize_keras_object(schedule)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    assert isinstance(restored, WarmupExponentialDecay)
    assert restored.get_config() == schedule.get_config()
    steps = [0, 70, 1400, 4200, 7000]
    np.testing.assert_allclose(
        [float(restored(step)) for step in steps], [float(schedule(step)) for step in steps]
    )

    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    restored_optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    restored_schedule = restored_optimizer.get_config()["learning_rate"]
    assert restored_schedule == optimizer.get_config()["learning_rate"]


class RecordLearningRate(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))


def test_drives_adam_in_fit():
    # 2 steps per schedule epoch; warm-up for epoch 0, decay x0.5 from epoch 2.
    settings = dict(
        initial_learning_rate=1e-2,
        decay_epochs=[2],
        decay_rate=0.5,
        warmup_epochs=1,
        warmup_learning_rate=1e-3,
    )
    schedule = WarmupExponentialDecay(steps_per_epoch=2, **settings)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    rng = np.random.default_rng(0)
    recorder = RecordLearningRate()
    # 10 samples in batches of 2: steps 0..4 of the optimizer.
    model.fit(rng.normal(size=(10, 3)), rng.normal(size=(10, 1)), batch_size=2, epochs=1,
              verbose=0, callbacks=[recorder])
    expected = [reference_learning_rate(step // 2, **settings) for step in range(6)]
    np.testing.assert_allclose(recorder.rates, expected[:5], rtol=1e-6)
    assert int(model.optimizer.iterations) == 5
    np.testing.assert_allclose(float(model.optimizer.learning_rate), expected[5], rtol=1e-6)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(steps_per_epoch=0),
        dict(steps_per_epoch=10, decay_epochs=[600, 200]),
        dict(steps_per_epoch=10, decay_epochs=[-1]),
        dict(steps_per_epoch=10, warmup_epochs=5),
        dict(steps_per_epoch=10, warmup_epochs=-1, warmup_learning_rate=1e-5),
        dict(steps_per_epoch=10, rampup_epochs=-1),
    ],
)
def test_rejects_bad_configuration(arguments):
    with pytest.raises(ConfigError):
        WarmupExponentialDecay(initial_learning_rate=1e-3, **arguments)


class BaselineExponentialWarmup:
    """The DCASE2022 Task 4 baseline's scheduler as it steps: its count starts at 1 and it sets
    the rate after every optimizer step (restated here from its definition)."""

    def __init__(self, max_lr, rampup_length):
        self.max_lr, self.rampup_length, self.step_num = max_lr, rampup_length, 1

    def step(self) -> float:
        self.step_num += 1
        phase = 1.0 - min(self.step_num, self.rampup_length) / self.rampup_length
        return self.max_lr * math.exp(-5.0 * phase * phase)


def test_rampup_follows_the_dcase2022_baseline_scheduler():
    schedule = WarmupExponentialDecay(1e-3, steps_per_epoch=STEPS_PER_EPOCH, rampup_epochs=3)
    length = 3 * STEPS_PER_EPOCH
    baseline = BaselineExponentialWarmup(1e-3, length)
    # The rate of optimizer step s >= 1 is the one the baseline set after step s - 1.
    for step in range(1, length + 10):
        np.testing.assert_allclose(float(schedule(step)), baseline.step(), rtol=1e-6)
    # Step 0 (where the baseline's optimizer still has its initial 1e-3) starts the ramp, by hand:
    np.testing.assert_allclose(float(schedule(0)), 1e-3 * math.exp(-5.0 * (20 / 21) ** 2), rtol=1e-6)
    np.testing.assert_allclose(float(schedule(length - 1)), 1e-3, rtol=1e-6)


def test_rampup_multiplies_warmup_free_decay_and_drives_fit():
    schedule = WarmupExponentialDecay(1e-2, steps_per_epoch=2, decay_epochs=[1], decay_rate=0.5, rampup_epochs=2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    recorder = RecordLearningRate()
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(12, 3)), rng.normal(size=(12, 1)), batch_size=2, epochs=1, verbose=0,
              callbacks=[recorder])
    expected = [reference_learning_rate(step // 2, 1e-2, [1], 0.5) * math.exp(-5.0 * (1 - min(step + 1, 4) / 4) ** 2)
                for step in range(6)]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored.get_config()["rampup_epochs"] == 2
    np.testing.assert_allclose(float(restored(1)), expected[1], rtol=1e-6)
