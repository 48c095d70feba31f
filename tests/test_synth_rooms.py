"""Tests of the simulated rooms and array encodings against hand-worked geometry."""

import numpy as np
import pytest
from scipy import signal

from seld_tf.datasets.synth import rooms
from seld_tf.errors import ConfigError

RATE = 24000
C = rooms.SPEED_OF_SOUND


def _box(rt60: float = 0.5, max_order: int = 1) -> rooms.Room:
    return rooms.Room(dimensions=(4.0, 4.0, 3.0), rt60=rt60, array_position=(2.0, 2.0, 1.5), max_order=max_order, seed=7)


def test_capsules_sit_on_the_tetrahedron():
    offsets = rooms.capsule_offsets()
    c35, s35, r = np.cos(np.deg2rad(35.0)), np.sin(np.deg2rad(35.0)), 0.042
    h = c35 / np.sqrt(2.0)  # cos(35) cos(45) = cos(35) sin(45)
    expected = r * np.array([[h, h, s35], [h, -h, -s35], [-h, h, -s35], [-h, -h, s35]])
    np.testing.assert_allclose(offsets, expected, atol=1e-12)


def test_eyring_absorption_gives_the_requested_rt60():
    room = _box(rt60=0.6)
    volume, surface = 48.0, 2 * (16.0 + 12.0 + 12.0)
    assert room.volume == volume and room.surface == surface
    assert 0.161 * volume / (-surface * np.log(1.0 - room.absorption)) == pytest.approx(0.6)


def test_max_distance_to_the_walls():
    room = _box()  # array at the centre of 4 x 4 x 3 m, 0.3 m margin
    assert room.max_distance(0.0, 0.0) == pytest.approx(1.7)
    assert room.max_distance(0.0, 90.0) == pytest.approx(1.2)
    assert room.max_distance(45.0, 0.0) == pytest.approx(1.7 * np.sqrt(2.0))
    # Along a trajectory the nearest wall counts.
    assert room.max_distance(np.array([45.0, 90.0]), 60.0) == pytest.approx(1.2 / np.sin(np.deg2rad(60.0)))


def test_first_order_images_are_the_mirror_sources():
    room = _box(rt60=0.5, max_order=1)
    images, damping = rooms.ImageSources(room, RATE)(np.array([3.0, 2.0, 1.5]))
    # The source itself and its mirror images in the six walls (x = 0, 4; y = 0, 4; z = 0, 3).
    expected = {(3, 2, 1.5), (5, 2, 1.5), (-3, 2, 1.5), (3, -2, 1.5), (3, 6, 1.5), (3, 2, -1.5), (3, 2, 4.5)}
    assert {tuple(np.round(p, 4) + 0.0) for p in images} == expected  # pyroomacoustics works in float32
    direct = np.all(np.isclose(images, [3.0, 2.0, 1.5]), axis=1)
    np.testing.assert_allclose(damping[direct], 1.0)
    np.testing.assert_allclose(damping[~direct], np.sqrt(1.0 - room.absorption))  # amplitude reflection factor


def test_fractional_delay_matches_an_ideal_delay_over_most_of_the_band():
    delays = np.array([[40.0, 40.25, 40.5, 41.83]])
    response = rooms.fractional_delay_sum(delays, np.ones_like(delays)).astype(np.float64)
    frequency = np.fft.rfftfreq(512, 1.0)
    spectra = np.fft.rfft(response, 512, axis=0)
    band = frequency <= 0.4  # 80% of Nyquist
    ideal = np.exp(-2j * np.pi * frequency[band, None] * delays)
    assert np.abs(spectra[band] - ideal).max() < 0.01


@pytest.mark.parametrize("azimuth, elevation", [(45.0, 0.0), (-100.0, 30.0), (170.0, -40.0)])
def test_foa_direct_path_is_an_sn3d_plane_wave(azimuth, elevation):
    centre = np.array([2.0, 2.0, 1.5])
    a, e = np.deg2rad(azimuth), np.deg2rad(elevation)
    source = centre + 1.5 * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    response = rooms.array_response(source[None], np.ones(1), centre, "foa", RATE)
    # The taps of a windowed sinc sum to ~1, so each channel's sum is its gain.
    gains = response.sum(axis=0) * 4.0 * np.pi * 1.5
    np.testing.assert_allclose(gains, [1.0, np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)], atol=2e-3)
    assert np.argmax(np.abs(response[:, 0])) == round(1.5 / C * RATE)


def test_mic_delays_follow_the_capsule_geometry():
    centre = np.array([2.0, 2.0, 1.5])
    source = centre + np.array([0.9, -1.1, 0.6])
    response = rooms.array_response(source[None], np.ones(1), centre, "mic", RATE).astype(np.float64)
    capsules = centre + rooms.capsule_offsets()
    expected = np.linalg.norm(source - capsules, axis=1) / C * RATE
    # Group delay at low frequency: the phase slope of each capsule's response.
    spectra = np.fft.rfft(response, 4096, axis=0)
    k = np.arange(1, 200)
    slope = -np.polyfit(2 * np.pi * k / 4096, np.unwrap(np.angle(spectra[k]), axis=0), 1)[0]
    np.testing.assert_allclose(slope, expected, atol=0.01)
    np.testing.assert_allclose(np.abs(spectra[0]), 1.0 / (4 * np.pi * expected / RATE * C), rtol=1e-3)


def test_late_tail_decay_level_and_diffuseness():
    room = _box(rt60=0.5, max_order=3)
    tail = rooms.late_reverb_tail(room, "foa", RATE).astype(np.float64)
    start = int(room.mixing_time * RATE)
    assert np.all(tail[:start] == 0.0) and np.any(tail[start + 240] != 0.0)
    # Energy decay: fit the log of 10 ms energies, 60 dB per RT60.
    late = tail[start + 480 :, 0]
    energy = (late[: len(late) // 240 * 240].reshape(-1, 240) ** 2).sum(axis=1)
    slope_db_per_s = np.polyfit(np.arange(len(energy)) * 0.01, 10 * np.log10(energy), 1)[0]
    assert -60.0 / slope_db_per_s == pytest.approx(0.5, rel=0.1)
    # Level: the diffuse-field energy 1 / (pi R) left after the mixing time.
    a = room.absorption
    expected = np.exp(-np.log(1e6) * room.mixing_time / 0.5) / (np.pi * room.surface * a / (1 - a))
    assert np.sum(tail[:, 0] ** 2) == pytest.approx(expected, rel=0.1)
    # Diffuse SN3D: each dipole carries a third of W's energy; channels uncorrelated.
    np.testing.assert_allclose(np.sum(tail**2, axis=0) / np.sum(tail[:, 0] ** 2), [1, 1 / 3, 1 / 3, 1 / 3], rtol=0.1)
    correlation = np.corrcoef(tail[start:].T)
    assert np.abs(correlation[np.triu_indices(4, 1)]).max() < 0.05
    # One tail per room: the same room gives the same tail.
    np.testing.assert_array_equal(rooms.late_reverb_tail(room, "foa", RATE), tail.astype(np.float32))


@pytest.mark.parametrize("fmt, gains", [("foa", [1, 1 / 3, 1 / 3, 1 / 3]), ("mic", [1, 1, 1, 1])])
def test_diffuse_noise_power_and_spectral_slope(fmt, gains):
    noise = rooms.diffuse_noise(np.random.default_rng(0), 4 * RATE, fmt, RATE, spectral_slope=1.5).astype(np.float64)
    np.testing.assert_allclose(np.mean(noise**2, axis=0), gains, rtol=1e-4)
    frequency, power = signal.welch(noise[:, 0], RATE, nperseg=4096)
    band = (frequency > 100) & (frequency < 8000)
    slope = np.polyfit(np.log10(frequency[band]), np.log10(power[band]), 1)[0]
    assert slope == pytest.approx(-1.5, abs=0.1)


def test_bad_rooms_and_formats_raise_config_error():
    with pytest.raises(ConfigError, match="not inside the room"):
        rooms.Room(dimensions=(4.0, 4.0, 3.0), rt60=0.5, array_position=(2.0, 5.0, 1.5))
    with pytest.raises(ConfigError, match="rt60 must be positive"):
        rooms.Room(dimensions=(4.0, 4.0, 3.0), rt60=0.0, array_position=(2.0, 2.0, 1.5))
    with pytest.raises(ConfigError, match="unknown array format 'binaural'"):
        rooms.diffuse_channel_gains("binaural")
    with pytest.raises(ConfigError, match="outside the room"):
        rooms.ImageSources(_box(), RATE)(np.array([5.0, 2.0, 1.5]))
