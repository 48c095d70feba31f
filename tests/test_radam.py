"""Tests of seld_tf.optimizers.RAdam: the update rule against numpy, schedules, weight decay, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from seld_tf.optimizers import RAdam
from seld_tf.saving import load_model

STEPS = 12


def radam_reference(theta, gradients, learning_rates, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0):
    """Liu et al.'s Algorithm 2 as torch.optim.RAdam computes it, in float64.

    Returns the parameters after each step and whether each step was rectified.
    """
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    rho_inf = 2 / (1 - beta_2) - 1
    history, rectified = [], []
    for t, (g, lr) in enumerate(zip(gradients, learning_rates), start=1):
        theta = theta - lr * weight_decay * theta  # decoupled, before the update (Keras' base class)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)
        rho = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
        rectified.append(rho > 5)
        if rho > 5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            theta = theta - lr * r * m_hat * np.sqrt(1 - beta_2**t) / (np.sqrt(v) + epsilon)
        else:
            theta = theta - lr * m_hat
        history.append(theta)
    return history, rectified


def run_optimizer(optimizer, theta, gradients):
    """Apply `gradients` one step at a time inside a tf.function; the parameters after each step."""
    variable = keras.Variable(theta.astype("float32"))

    @tf.function
    def step(gradient):
        optimizer.apply_gradients([(gradient, variable)])

    history = []
    for gradient in gradients:
        step(tf.constant(gradient, "float32"))
        history.append(variable.numpy())
    return history


def problem(seed=0):
    rng = np.random.default_rng(seed)
    # Gradient scales spread over 1e-3..1e1, so that epsilon and the adaptive step both matter.
    scales = 10.0 ** rng.uniform(-3, 1, size=(3, 4))
    return rng.normal(size=(3, 4)), rng.normal(size=(STEPS, 3, 4)) * scales


@pytest.mark.parametrize(
    "arguments",
    [
        dict(),
        dict(beta_1=0.8, beta_2=0.99, epsilon=1e-6),
        dict(weight_decay=0.1),
    ],
)
def test_matches_the_numpy_reference(arguments):
    theta, gradients = problem()
    expected, rectified = radam_reference(theta, gradients, [0.01] * STEPS, **arguments)
    actual = run_optimizer(RAdam(learning_rate=0.01, **arguments), theta, gradients)
    # Both regimes are covered: beta_2 = 0.999 rectifies from step 6 on, beta_2 = 0.99 too.
    assert rectified == [False] * 5 + [True] * (STEPS - 5)
    for step, (want, got) in enumerate(zip(expected, actual), start=1):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"step {step}")


def test_first_rectified_steps_are_precise():
    # No gradient before step 6 and parameters from 0: the parameters then hold the
    # rectified steps alone, to float32 precision. rho_t is 5.99 at step 6, where r_t
    # is most sensitive to it: computed in float32, or from beta_2 rounded to float32,
    # the step would be 2e-3 or 1.3e-5 off.
    gradients = np.zeros((9, 2, 3))
    gradients[5:] = np.random.default_rng(3).normal(size=(4, 2, 3)) * np.array([1e-4, 1.0, 10.0])
    expected, rectified = radam_reference(np.zeros((2, 3)), gradients, [1e-3] * 9)
    actual = run_optimizer(RAdam(learning_rate=1e-3), np.zeros((2, 3)), gradients)
    assert rectified == [False] * 5 + [True] * 4
    # Step 6 holds one update; later steps sums of updates of both signs, less precise.
    np.testing.assert_allclose(actual[5], expected[5], rtol=1e-6, atol=0, err_msg="step 6")
    for step in range(6, 9):
        np.testing.assert_allclose(actual[step], expected[step], rtol=1e-4, atol=0, err_msg=f"step {step + 1}")


def test_early_steps_are_bias_corrected_momentum_sgd():
    theta, gradients = np.zeros((2,)), np.array([[1.0, -2.0]] * 3)
    history = run_optimizer(RAdam(learning_rate=0.5), theta, gradients)
    # m_hat equals the (constant) gradient, so each of the unrectified steps moves by lr * g.
    np.testing.assert_allclose(history, [[-0.5, 1.0], [-1.0, 2.0], [-1.5, 3.0]], rtol=1e-6)


def test_follows_a_learning_rate_schedule():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([3, 8], [0.05, 0.01, 0.002])
    theta, gradients = problem(1)
    # The optimizer asks the schedule for the rate of step t at iteration t - 1.
    rates = [float(schedule(step)) for step in range(STEPS)]
    expected, _ = radam_reference(theta, gradients, rates)
    actual = run_optimizer(RAdam(learning_rate=schedule), theta, gradients)
    np.testing.assert_allclose(actual[-1], expected[-1], rtol=1e-6, atol=1e-6)


def test_config_round_trip():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.5)
    for optimizer in (RAdam(2e-4, beta_1=0.8, epsilon=1e-7, weight_decay=1e-4, clipnorm=1.0), RAdam(schedule)):
        restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        assert type(restored) is RAdam and restored.get_config() == optimizer.get_config()
    defaults = RAdam().get_config()
    assert (defaults["beta_1"], defaults["beta_2"], defaults["epsilon"]) == (0.9, 0.999, 1e-8)


def test_saved_model_keeps_the_optimizer_and_its_state(tmp_path):
    rng = np.random.default_rng(2)
    inputs, targets = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    model.compile(optimizer=RAdam(3e-3, beta_1=0.8, weight_decay=1e-3), loss="mse")
    for _ in range(7):  # past the unrectified steps
        model.train_on_batch(inputs, targets)
    model.save(tmp_path / "model.keras")
    restored = load_model(tmp_path / "model.keras")

    assert type(restored.optimizer) is RAdam
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    assert int(restored.optimizer.iterations) == 7
    for saved, loaded in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(loaded.numpy(), saved.numpy(), err_msg=saved.path)
    # Training continues from the saved moments and step count, as if never interrupted.
    model.train_on_batch(inputs, targets)
    restored.train_on_batch(inputs, targets)
    for original, continued in zip(model.weights, restored.weights):
        np.testing.assert_allclose(continued.numpy(), original.numpy(), rtol=1e-6, atol=1e-7)
