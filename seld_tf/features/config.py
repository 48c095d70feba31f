"""Feature-extraction configuration: one frozen dataclass and the papers' presets.

Every parameter of the STFT, mel filterbank, log compression and spatial
features is an explicit field, so a cached feature set is fully described by
`FeatureConfig.to_dict()` and two extractions agree whenever their configs do.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Mapping

from seld_tf.errors import ConfigError

WINDOWS = ("hann", "hamming")
PAD_MODES = ("constant", "reflect")
MEL_NORMS = ("slaney", None)
SPECTRA = ("power", "magnitude")
LOGS = ("db", "log_eps")
IV_MAPPINGS = ("acn", "legacy")
STFT_SCALINGS = (None, "density")
# -70 is BS.1770's absolute gate (a quieter clip measures as silence); 0 is above
# a full-scale 1 kHz sine (-3 LUFS), so it bounds every sensible target.
LOUDNESS_RANGE_LUFS = (-70.0, 0.0)


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"FeatureConfig.{name}: expected one of {list(choices)}, found {value!r}")


def _check_int(name: str, value: Any, minimum: int) -> None:
    # bool is an int subclass; a YAML `true` for n_fft is a typo, not a size.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"FeatureConfig.{name}: expected an integer >= {minimum}, found {value!r}")


def _check_number(name: str, value: Any, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"FeatureConfig.{name}: expected a finite number, found {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"FeatureConfig.{name}: expected a number > 0, found {value!r}")
    if value < 0:
        raise ConfigError(f"FeatureConfig.{name}: expected a number >= 0, found {value!r}")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the log-mel / intensity-vector / GCC-PHAT front end.

    The defaults are the DCASE2020 Task 3 baseline (24 kHz, 20 ms hop, 40 ms
    Hann window in a 1024-point FFT, 64 librosa mel bands, `power_to_db`).

    Args:
        sample_rate: Audio sampling rate in Hz.
        n_fft: FFT size; the spectrum has `n_fft // 2 + 1` bins.
        hop_length: Frame step in samples.
        win_length: Window length in samples (<= n_fft); the window is
            zero-padded symmetrically to `n_fft` as librosa does.
        window: "hann" or "hamming".
        window_periodic: Periodic window (`fftbins=True`, the librosa and
            `scipy.signal.get_window` default); False gives the symmetric
            window of `np.hamming` and `torch.hamming_window(periodic=False)`.
        stft_scaling: None (the raw DFT, as librosa) or "density": the STFT
            divided by `sqrt(sum(window**2))`, as `scipy.signal.spectrogram(fs=1,
            mode="magnitude")` scales it; it matters before `log(x + log_eps)`.
        center: Pad `n_fft // 2` samples on both sides so that frame `t` is
            centred on sample `t * hop_length` (librosa's `center=True`).
        pad_mode: "constant" (zeros; librosa >= 0.10 default) or "reflect".
        n_mels: Number of mel bands.
        fmin: Lowest mel band edge in Hz.
        fmax: Highest mel band edge in Hz; None means `sample_rate / 2`.
        mel_htk: HTK mel formula instead of Slaney's (librosa `htk`).
        mel_norm: "slaney" (area normalisation) or None (librosa `norm`).
        spectrum: "power" (|X|^2) or "magnitude" (|X|) before the mel projection.
        log: "db" (`librosa.power_to_db` with ref, amin, top_db) or
            "log_eps" (natural `log(x + log_eps)`).
        ref: Reference value of the dB conversion.
        amin: Floor of the dB conversion.
        top_db: Clip each channel to at most this many dB below its maximum
            over the clip; None disables clipping.
        db_clamp: None or `(low, high)`: clamp the dB values to this range
            after the conversion (and after `top_db`), in its units, e.g. the
            DCASE2022 Task 4 baseline's clamp of its 20 log10 magnitude to
            [-50, 80] is `(-25, 40)` of this 10 log10 scale.
        log_eps: Offset of the "log_eps" compression.
        iv_mapping: Which FOA channels form the intensity vector's x, y, z:
            "acn" = channels 3, 1, 2 (X, Y, Z of ACN order W, Y, Z, X);
            "legacy" = channels 1, 2, 3, as in the pre-2020-11 DCASE2020
            baseline and EINV2.
        gcc_lags: Number of GCC-PHAT lags kept, `-gcc_lags/2 .. gcc_lags/2 - 1`.
        loudness_lufs: None (off) or the integrated loudness in LUFS, within
            [-70, 0], that each clip is scaled to (ITU-R BS.1770 with
            pyloudnorm) after resampling and before its features: see
            `seld_tf.features.extract.normalize_loudness`. The extraction
            (`make_extractor`, hence the feature cache) applies it;
            `compute_features` and `compute_features_tf` take audio already
            normalised, since the gain needs the whole clip's gated loudness.
    """

    sample_rate: int = 24000
    n_fft: int = 1024
    hop_length: int = 480
    win_length: int = 960
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    mel_htk: bool = False
    mel_norm: str | None = "slaney"
    spectrum: str = "power"
    log: str = "db"
    ref: float = 1.0
    amin: float = 1e-10
    top_db: float | None = 80.0
    db_clamp: tuple[float, float] | None = None
    log_eps: float = 1e-8
    iv_mapping: str = "acn"
    gcc_lags: int = 64
    window_periodic: bool = True
    stft_scaling: str | None = None
    loudness_lufs: float | None = None

    def __post_init__(self) -> None:
        _check_int("sample_rate", self.sample_rate, 1)
        _check_int("n_fft", self.n_fft, 2)
        _check_int("hop_length", self.hop_length, 1)
        _check_int("win_length", self.win_length, 1)
        _check_int("n_mels", self.n_mels, 1)
        _check_int("gcc_lags", self.gcc_lags, 2)
        if self.win_length > self.n_fft:
            raise ConfigError(
                f"FeatureConfig.win_length: expected <= n_fft ({self.n_fft}), found {self.win_length}"
            )
        if self.gcc_lags % 2 or self.gcc_lags > self.n_fft:
            raise ConfigError(
                f"FeatureConfig.gcc_lags: expected an even number <= n_fft ({self.n_fft}), found {self.gcc_lags}"
            )
        for name in ("center", "mel_htk", "window_periodic"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"FeatureConfig.{name}: expected true or false, found {getattr(self, name)!r}")
        _check_choice("window", self.window, WINDOWS)
        _check_choice("pad_mode", self.pad_mode, PAD_MODES)
        _check_choice("mel_norm", self.mel_norm, MEL_NORMS)
        _check_choice("spectrum", self.spectrum, SPECTRA)
        _check_choice("log", self.log, LOGS)
        _check_choice("iv_mapping", self.iv_mapping, IV_MAPPINGS)
        _check_choice("stft_scaling", self.stft_scaling, STFT_SCALINGS)
        _check_number("fmin", self.fmin, positive=False)
        if self.fmax is not None:
            _check_number("fmax", self.fmax, positive=True)
        nyquist = self.sample_rate / 2
        if not self.fmin < self.mel_fmax <= nyquist:
            raise ConfigError(
                f"FeatureConfig: expected 0 <= fmin < fmax <= sample_rate / 2 ({nyquist:g} Hz), "
                f"found fmin={self.fmin!r}, fmax={self.fmax!r}"
            )
        for name in ("ref", "amin", "log_eps"):
            _check_number(name, getattr(self, name), positive=True)
        if self.top_db is not None:
            _check_number("top_db", self.top_db, positive=False)
        if self.db_clamp is not None:
            bounds = tuple(self.db_clamp) if isinstance(self.db_clamp, (list, tuple)) else ()
            if (
                len(bounds) != 2
                or any(isinstance(b, bool) or not isinstance(b, numbers.Real) or not math.isfinite(b) for b in bounds)
                or not bounds[0] < bounds[1]
                or self.log != "db"
            ):
                raise ConfigError(
                    f"FeatureConfig.db_clamp: expected None or [low, high] dB with low < high (and log 'db'), "
                    f"found {self.db_clamp!r}"
                )
            # A YAML list arrives as a list; the frozen config keeps a hashable tuple.
            object.__setattr__(self, "db_clamp", (float(bounds[0]), float(bounds[1])))
        if self.loudness_lufs is not None:
            low, high = LOUDNESS_RANGE_LUFS
            value = self.loudness_lufs
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
                raise ConfigError(f"FeatureConfig.loudness_lufs: expected None or a number in [{low:g}, {high:g}] LUFS, found {value!r}")

    @property
    def mel_fmax(self) -> float:
        """Upper edge of the mel filterbank in Hz (`fmax`, or Nyquist when None)."""
        return self.sample_rate / 2 if self.fmax is None else self.fmax

    @property
    def n_bins(self) -> int:
        """Number of STFT frequency bins, `n_fft // 2 + 1`."""
        return self.n_fft // 2 + 1

    @property
    def frames_per_second(self) -> float:
        """Feature frame rate in Hz (50 for the DCASE2020 baseline)."""
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Number of feature frames for a clip of `num_samples` samples.

        Centred: `ceil(num_samples / hop_length)`. librosa yields
        `1 + num_samples // hop_length` frames; the DCASE2020 baseline drops
        the surplus so that a 60 s, 24 kHz file gives exactly 3000 frames
        (5 per 100 ms label frame). Not centred: `1 + (num_samples - n_fft) //
        hop_length`, every frame lying inside the clip.

        Raises:
            ConfigError: if the clip is too short for the configuration.
        """
        if self.center:
            # Reflect padding mirrors n_fft // 2 samples about the edge sample.
            shortest = self.n_fft // 2 + 1 if self.pad_mode == "reflect" else 1
        else:
            shortest = self.n_fft
        if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < shortest:
            raise ConfigError(
                f"expected a clip of at least {shortest} samples for center={self.center}, "
                f"pad_mode={self.pad_mode!r}, n_fft={self.n_fft}; found {num_samples!r}"
            )
        if self.center:
            return int(-(-num_samples // self.hop_length))
        return int(1 + (num_samples - self.n_fft) // self.hop_length)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON/YAML-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureConfig:
        """Build a config from a mapping of field names; missing fields take defaults.

        Raises:
            ConfigError: if `d` is not a mapping, has unknown keys, or holds invalid values.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"FeatureConfig.from_dict: expected a mapping, found {type(d).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"FeatureConfig: unknown keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**d)


PRESETS: dict[str, FeatureConfig] = {
    # DCASE2020 Task 3 baseline (seld-dcase2020): the class defaults.
    "dcase2020": FeatureConfig(),
    # EINV2 (EIN-SELD configs and methods/feature.py): hop 600, a full
    # 1024-sample window, 256 mels in 20 Hz - 12 kHz, torchlibrosa STFT with
    # reflect padding, power_to_db(ref=1, amin=1e-10, top_db=None), and the
    # intensity vector's x, y, z taken from FOA channels 1, 2, 3.
    "einv2": FeatureConfig(
        hop_length=600,
        win_length=1024,
        pad_mode="reflect",
        n_mels=256,
        fmin=20.0,
        fmax=12000.0,
        top_db=None,
        iv_mapping="legacy",
    ),
    # Superseded by "apae2021", which adds the symmetric window and scipy's
    # density scaling; kept so that existing caches and configs still resolve.
    # 2APAE (Deshmukh et al.): 32 kHz, 2048-point Hamming window, hop 1024,
    # magnitude STFT, 64 mels in 50 Hz - 16 kHz, log(x + 1e-8). Their 10 s
    # clips give 311 frames = 1 + (320000 - 2048) // 1024, i.e. an uncentred STFT.
    "apae": FeatureConfig(
        sample_rate=32000,
        n_fft=2048,
        hop_length=1024,
        win_length=2048,
        window="hamming",
        center=False,
        n_mels=64,
        fmin=50.0,
        fmax=16000.0,
        spectrum="magnitude",
        log="log_eps",
    ),
    # Kept for its resolution; "desed_baseline" is the baseline's own recipe.
    # DCASE2022 Task 4 (DESED) resolution: 16 kHz, n_fft = window = 2048,
    # hop 256, 128 mels in 0 - 8 kHz, librosa-style log-mel. The DESED_task
    # baseline itself uses torchaudio (symmetric Hamming window, magnitude,
    # HTK mels without normalisation, 20*log10 clamped to [-50, 80] dB,
    # 1 + S // 256 frames); this preset keeps the resolution, not that recipe.
    "desed": FeatureConfig(
        sample_rate=16000,
        n_fft=2048,
        hop_length=256,
        win_length=2048,
        n_mels=128,
        fmin=0.0,
        fmax=8000.0,
    ),
    # Nada et al. 2022 (specs/nada2022.md §3 "Features"; the paper gives only
    # 64 bands, 40 ms frames, 20 ms shift): 44.1 kHz, Hamming 1764 in a
    # 2048-point FFT, hop 882, centred with zero padding, 64 Slaney mels over
    # 0 - 22050 Hz, power, ln(x + 1e-10). 10 s -> 500 frames (librosa's 501st
    # is dropped by `num_frames`).
    "nada2022": FeatureConfig(
        sample_rate=44100,
        n_fft=2048,
        hop_length=882,
        win_length=1764,
        window="hamming",
        n_mels=64,
        spectrum="power",
        log="log_eps",
        log_eps=1e-10,
    ),
    # MTL-VAE 2022 (specs/mtl_vae.md §3 "Features", from its audio_lib.py):
    # librosa melspectrogram at 16 kHz, Hann 2048, hop 384, centred with zero
    # padding, power, 128 Slaney mels 0 - 8 kHz; 10 s -> 417 frames. The code's
    # amplitude_to_db(mel, amin=1e-5, top_db=None) is 20*log10 of the power mel,
    # exactly twice this power_to_db; the factor cancels in the per-bin scaler.
    # The code's DC removal is not applied. Its -3 LUFS loudness normalisation
    # is `loudness_lufs=-3.0`, left off here: the paper does not mention it,
    # spec §3 asks for it as an option, and the Fig. 2 / Fig. 3 recipes and
    # their caches are without it (experiments/mtl_vae2022/option_loudness.yaml
    # turns it on).
    "mtl_vae2022": FeatureConfig(
        sample_rate=16000,
        n_fft=2048,
        hop_length=384,
        win_length=2048,
        n_mels=128,
        fmax=8000.0,
        amin=1e-5,
        top_db=None,
    ),
    # 2APAE (Deshmukh et al. 2021; specs/apae.md §3, after Kong's
    # utils/features.py): scipy.signal.spectrogram(mode="magnitude", fs=1) with
    # np.hamming(2048) (symmetric), hop 1024, no centring; 64 Slaney mels
    # 50 Hz - 16 kHz on the magnitude; ln(x + 1e-8). The density scaling is kept
    # because the 1e-8 offset does not commute with it. 10 s -> 311 frames.
    "apae2021": FeatureConfig(
        sample_rate=32000,
        n_fft=2048,
        hop_length=1024,
        win_length=2048,
        window="hamming",
        window_periodic=False,
        stft_scaling="density",
        center=False,
        n_mels=64,
        fmin=50.0,
        fmax=16000.0,
        spectrum="magnitude",
        log="log_eps",
        log_eps=1e-8,
    ),
    # DCASE2022 Task 4 baseline front end (specs/mtl_vae.md §3, DESED_task
    # sed_trainer.py; torchaudio MelSpectrogram defaults): 16 kHz, symmetric
    # Hamming 2048, hop 256, centred with reflect padding, magnitude, 128 HTK
    # mels 0 - 8 kHz without normalisation, dB with amin 1e-5, clamped to
    # torchaudio's [-50, 80] dB of its 20*log10 scale (twice this one; a scale
    # that the per-clip min-max scaling, `model.scaler: instance_minmax`, or
    # the per-bin standardisation removes). Not reproduced: its 626th frame of
    # a 10 s clip (1 + S // 256; this keeps 625).
    "desed_baseline": FeatureConfig(
        sample_rate=16000,
        n_fft=2048,
        hop_length=256,
        win_length=2048,
        window="hamming",
        window_periodic=False,
        pad_mode="reflect",
        n_mels=128,
        fmax=8000.0,
        mel_htk=True,
        mel_norm=None,
        spectrum="magnitude",
        amin=1e-5,
        top_db=None,
        db_clamp=(-25.0, 40.0),
    ),
}


def get_preset(name: str, **overrides: Any) -> FeatureConfig:
    """The named preset from `PRESETS`, with `overrides` replacing its fields.

    Raises:
        ConfigError: for an unknown preset name or override key, or an invalid value.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown feature preset {name!r}; expected one of {sorted(PRESETS)}")
    return FeatureConfig.from_dict({**PRESETS[name].to_dict(), **overrides})
