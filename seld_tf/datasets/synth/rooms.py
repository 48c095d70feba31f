"""Simulated rooms and the two DCASE2020 Task 3 array formats (FOA and MIC).

Early reflections come from the image-source model of a shoebox room
(pyroomacoustics computes the image positions and their wall damping; the
array responses are built here, vectorised, because `Room.compute_rir` is an
order of magnitude slower and knows nothing of Ambisonics). Late
reverberation is a statistical, exponentially decaying diffuse tail whose
level follows diffuse-field room theory, so the direct-to-reverberant ratio
falls with source distance as in a real room.

Conventions: x is the array's front, y its left, z up; azimuth is counted
counter-clockwise from the front, as in the DCASE metadata. FOA is ACN/SN3D
(channels W, Y, Z, X). MIC is the 4-capsule tetrahedral array of the
Eigenmike-based recordings, modelled here as open (omnidirectional capsules
in free field) whereas the real capsules sit on a rigid sphere.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyroomacoustics as pra
import scipy.fft

from seld_tf.datasets.events import polar_to_cartesian
from seld_tf.errors import ConfigError

SPEED_OF_SOUND = 343.0
FORMATS = ("foa", "mic")
NUM_CHANNELS = 4
MIC_RADIUS = 0.042
MIC_CAPSULES_DEG = ((45.0, 35.0), (-45.0, -35.0), (135.0, -35.0), (-135.0, 35.0))
# Half-length of the windowed-sinc fractional-delay filter, in samples. The
# inter-capsule delays are sub-sample at 24 kHz (at most ~4.8 samples across
# the array); linear interpolation would low-pass each capsule by an amount
# that depends on its fractional delay and corrupt the phase differences
# GCC-PHAT reads, whereas a 33-tap Blackman-windowed sinc is accurate to a
# few hundredths of a sample over most of the band and costs nothing here.
_SINC_HALF_WIDTH = 16
# Sound energy decays by 60 dB (a factor 10^6) in one RT60.
_LN_1E6 = np.log(1e6)


def capsule_offsets() -> np.ndarray:
    """`[4, 3]` positions (metres) of the MIC capsules relative to the array centre."""
    azimuth, elevation = np.asarray(MIC_CAPSULES_DEG).T
    return MIC_RADIUS * polar_to_cartesian(azimuth, elevation)


def diffuse_channel_gains(fmt: str) -> np.ndarray:
    """RMS gain of each channel in a diffuse field of unit pressure power.

    In SN3D a plane wave from direction u has dipole gains u_x, u_y, u_z, whose
    mean square over all directions is 1/3; the omnidirectional channel W and
    each (omnidirectional) capsule keep the full power.
    """
    _check_format(fmt)
    if fmt == "foa":
        return np.array([1.0, *([1.0 / np.sqrt(3.0)] * 3)])
    return np.ones(NUM_CHANNELS)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown array format {fmt!r}; expected one of {FORMATS}")


@dataclasses.dataclass(frozen=True)
class Room:
    """A shoebox room with the array inside it.

    Attributes:
        dimensions: (length, width, height) in metres.
        rt60: reverberation time in seconds; sets the wall absorption (Eyring)
            and the decay of the late tail.
        array_position: array centre in room coordinates (metres).
        max_order: highest reflection order of the image-source model.
        seed: seeds the room's late-reverberation noise, so every clip
            recorded in this room shares one tail, as with a measured room.
    """

    dimensions: tuple[float, float, float]
    rt60: float
    array_position: tuple[float, float, float]
    max_order: int = 3
    seed: int = 0

    def __post_init__(self):
        dims, centre = np.asarray(self.dimensions, float), np.asarray(self.array_position, float)
        if dims.shape != (3,) or np.any(dims <= 0):
            raise ConfigError(f"room dimensions must be three positive lengths, got {self.dimensions}")
        if centre.shape != (3,) or np.any(centre <= 0) or np.any(centre >= dims):
            raise ConfigError(f"array position {self.array_position} is not inside the room {self.dimensions}")
        if self.rt60 <= 0:
            raise ConfigError(f"rt60 must be positive, got {self.rt60}")
        if self.max_order < 0:
            raise ConfigError(f"max_order must be >= 0, got {self.max_order}")

    @property
    def volume(self) -> float:
        return float(np.prod(self.dimensions))

    @property
    def surface(self) -> float:
        length, width, height = self.dimensions
        return 2.0 * (length * width + length * height + width * height)

    @property
    def absorption(self) -> float:
        """Mean energy absorption coefficient giving `rt60` by Eyring's formula.

        Eyring rather than Sabine because it stays below 1 for the nearly
        anechoic rooms used in tests (Sabine would ask for absorption > 1).
        """
        return float(1.0 - np.exp(-0.161 * self.volume / (self.surface * self.rt60)))

    @property
    def mixing_time(self) -> float:
        """Delay after the direct sound where the late tail takes over (seconds).

        Roughly the time for `max_order + 1` reflections: (order + 1) mean free
        paths (4V/S) travelled at the speed of sound.
        """
        return (self.max_order + 1) * 4.0 * self.volume / self.surface / SPEED_OF_SOUND

    def source_position(self, azimuth: float, elevation: float, distance: float) -> np.ndarray:
        """Room coordinates of a source at (azimuth, elevation) degrees, `distance` metres from the array."""
        return np.asarray(self.array_position) + distance * polar_to_cartesian(azimuth, elevation)

    def max_distance(self, azimuth, elevation, margin: float = 0.3) -> float:
        """Largest distance from the array along all given directions that stays `margin` inside the walls."""
        directions = polar_to_cartesian(np.atleast_1d(azimuth), np.broadcast_to(elevation, np.shape(np.atleast_1d(azimuth))))
        centre, dims = np.asarray(self.array_position), np.asarray(self.dimensions)
        with np.errstate(divide="ignore"):
            # Distance to the wall each direction heads for, per axis.
            to_wall = np.where(directions > 0, (dims - margin - centre) / directions, (margin - centre) / directions)
        to_wall = np.where(np.abs(directions) < 1e-12, np.inf, to_wall)
        return float(np.min(to_wall))


def sample_room(
    rng: np.random.Generator,
    dimension_ranges: tuple[tuple[float, float], ...],
    rt60_range: tuple[float, float],
    max_order: int,
) -> Room:
    """Draw a room: uniform dimensions and RT60, array near the middle at a plausible height."""
    dims = tuple(float(rng.uniform(low, high)) for low, high in dimension_ranges)
    # Off-centre by up to 10% so the images of different rooms are not symmetric.
    centre = tuple(float(d * rng.uniform(0.4, 0.6)) for d in dims)
    return Room(
        dimensions=dims,
        rt60=float(rng.uniform(*rt60_range)),
        array_position=centre,
        max_order=max_order,
        seed=int(rng.integers(2**31)),
    )


class ImageSources:
    """Image sources of one room, recomputed for each source position.

    One pyroomacoustics room is kept per `Room` and only its source moves, so a
    moving source costs ~0.03 ms per position instead of rebuilding the room.
    """

    def __init__(self, room: Room, sample_rate: int):
        self.room = room
        self._pra_room = pra.ShoeBox(
            list(room.dimensions), fs=sample_rate, materials=pra.Material(room.absorption), max_order=room.max_order
        )
        self._pra_room.add_source(list(room.array_position))
        # The image-source model needs a receiver; in a shoebox every image is
        # visible, so its position does not change the images.
        self._pra_room.add_microphone(list(room.array_position))

    def __call__(self, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return `([N, 3] image positions, [N] amplitude damping by the walls)`."""
        position = np.asarray(position, dtype=np.float64)
        if np.any(position <= 0) or np.any(position >= np.asarray(self.room.dimensions)):
            raise ConfigError(f"source position {position.tolist()} is outside the room {self.room.dimensions}")
        source = self._pra_room.sources[0]
        source.position = position
        self._pra_room.image_source_model()
        return source.images.T.copy(), source.damping[0].copy()


def array_response(
    images: np.ndarray,
    damping: np.ndarray,
    array_position: np.ndarray,
    fmt: str,
    sample_rate: int,
) -> np.ndarray:
    """Early room impulse responses of the array for sets of image sources.

    Each image contributes `damping / (4 pi d)` at delay `d / c` (the
    pyroomacoustics convention), where for FOA `d` is the distance to the
    array centre and the wave is encoded as a plane wave from the image's
    direction, and for MIC `d` is the distance to each capsule (the
    spherical wavefront, so near sources are right too).

    Args:
        images: `[..., N, 3]` image-source positions (leading axes: e.g. one
            set per position of a moving source).
        damping: `[..., N]` amplitude factor of each image from the walls.
        array_position: `[3]` array centre.
        fmt: "foa" or "mic".
        sample_rate: Hz.

    Returns:
        `[..., L, 4]` float32 responses, L set by the latest arrival.
    """
    _check_format(fmt)
    offsets = np.zeros((1, 3)) if fmt == "foa" else capsule_offsets()
    receivers = np.asarray(array_position)[None, :] + offsets  # [R, 3]
    vectors = images[..., :, None, :] - receivers  # [..., N, R, 3]
    distances = np.linalg.norm(vectors, axis=-1)  # [..., N, R]
    amplitudes = damping[..., None] / (4.0 * np.pi * distances)
    if fmt == "foa":
        unit = vectors[..., 0, :] / distances  # [..., N, 3]: x, y, z
        gains = np.stack([np.ones(unit.shape[:-1]), unit[..., 1], unit[..., 2], unit[..., 0]], axis=-1)  # W, Y, Z, X
        amplitudes = amplitudes * gains  # [..., N, 4]
        distances = np.repeat(distances, NUM_CHANNELS, axis=-1)
    return fractional_delay_sum(distances * sample_rate / SPEED_OF_SOUND, amplitudes)


def fractional_delay_sum(delays: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """Sum of scaled, fractionally delayed impulses per channel.

    Args:
        delays: `[..., N, C]` delays in samples (non-negative).
        amplitudes: `[..., N, C]` amplitude of each impulse.

    Returns:
        `[..., L, C]` float32 with L just long enough for the latest windowed sinc.
    """
    batch_shape, (num_impulses, num_channels) = delays.shape[:-2], delays.shape[-2:]
    delays = delays.reshape(-1, num_impulses, num_channels)
    amplitudes = amplitudes.reshape(delays.shape)
    taps = np.arange(-_SINC_HALF_WIDTH, _SINC_HALF_WIDTH + 1)
    positions = np.floor(delays).astype(np.int64)[..., None] + taps  # [B, N, C, T]
    offset = positions - delays[..., None]
    # Blackman window centred on the true (fractional) delay, zero at +-(half width + 1).
    phase = np.pi * offset / (_SINC_HALF_WIDTH + 1)
    window = 0.42 + 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
    weights = amplitudes[..., None] * np.sinc(offset) * window
    length = int(positions.max()) + 1
    batch = np.arange(len(delays))[:, None, None, None]
    channel = np.arange(num_channels)[None, None, :, None]
    flat_index = (batch * length + positions) * num_channels + channel
    keep = positions >= 0  # only fails for sources closer than the filter half-length
    flat = np.bincount(flat_index[keep], weights=weights[keep], minlength=len(delays) * length * num_channels)
    return flat.reshape(*batch_shape, length, num_channels).astype(np.float32)


def late_reverb_tail(room: Room, fmt: str, sample_rate: int) -> np.ndarray:
    """Late diffuse reverberation `[L, 4]` of `room`, time 0 being the direct sound's arrival.

    Independent Gaussian noise per channel (a diffuse field decorrelates the
    channels), scaled by `diffuse_channel_gains`, decaying as exp(-6.9 t / RT60)
    and faded in at the room's mixing time. Its energy is the diffuse-field
    reverberant energy 1 / (pi R), with room constant R = S a / (1 - a), left
    after the mixing time; in the same units the direct path at distance d
    carries 1 / (4 pi d)^2, so the direct-to-reverberant ratio follows
    the classical room-acoustics law.
    """
    _check_format(fmt)
    rng = np.random.default_rng([room.seed, FORMATS.index(fmt)])
    start = int(room.mixing_time * sample_rate)
    length = int(room.rt60 * sample_rate)  # 60 dB of decay: the rest is inaudible
    absorption = room.absorption
    room_constant = room.surface * absorption / (1.0 - absorption)
    late_energy = np.exp(-_LN_1E6 * room.mixing_time / room.rt60) / (np.pi * room_constant)
    envelope = np.exp(-0.5 * _LN_1E6 * np.arange(length) / (sample_rate * room.rt60))
    fade = min(length, int(0.01 * sample_rate))
    envelope[:fade] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)  # no step at the mixing time
    envelope *= np.sqrt(late_energy / np.sum(envelope**2))
    tail = rng.standard_normal((length, NUM_CHANNELS)) * envelope[:, None] * diffuse_channel_gains(fmt)
    return np.concatenate([np.zeros((start, NUM_CHANNELS)), tail]).astype(np.float32)


def diffuse_noise(rng: np.random.Generator, num_samples: int, fmt: str, sample_rate: int, spectral_slope: float) -> np.ndarray:
    """Coloured diffuse background noise `[num_samples, 4]`, unit power on W / each capsule.

    The power spectrum falls as f^-`spectral_slope` (1 = pink, 2 = brown)
    above 50 Hz, like the low-frequency-heavy ambience of rooms (ventilation,
    traffic). Channels are independent and scaled by `diffuse_channel_gains`.
    """
    _check_format(fmt)
    # White noise drawn directly as its (complex Gaussian) spectrum saves a forward FFT.
    spectrum = rng.standard_normal((NUM_CHANNELS, num_samples // 2 + 1, 2), dtype=np.float32).view(np.complex64)[..., 0]
    frequency = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
    shape = np.maximum(frequency, 50.0) ** (-spectral_slope / 2.0)
    shape[frequency < 20.0] = 0.0  # no DC or infrasound
    noise = scipy.fft.irfft(spectrum * shape.astype(np.float32), n=num_samples, axis=1)
    noise /= np.sqrt(np.mean(noise**2, axis=1, keepdims=True))
    return (noise.T * diffuse_channel_gains(fmt)).astype(np.float32)
