"""Audio file I/O with validation.

Every problem with an audio file (missing, empty, corrupt, truncated, or not
the sample rate / channel count / duration the caller expects) raises
`AudioFileError` naming the file, what was expected and what was found, so a
bad clip in a large dataset is found before it silently corrupts features.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np
import soundfile as sf

from seld_tf.errors import AudioFileError
from seld_tf.fileio import atomic_open

# Float rounding of frames / rate must not turn an exact duration into a mismatch.
_DURATION_EPSILON = 1e-9
# Chunk size written by a WAV writer that cannot seek back to fill it in.
_STREAMED_SIZE = 0xFFFFFFFF
# `nBlockAlign` (bytes per frame) ends 14 bytes into a `fmt ` chunk of any WAV format tag.
_FMT_BLOCK_ALIGN_END = 14


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file.

    Attributes:
        sample_rate: samples per second per channel.
        channels: number of channels.
        frames: number of samples per channel.
        duration: `frames / sample_rate`, seconds.
    """

    sample_rate: int
    channels: int
    frames: int
    duration: float


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Atomically write `[samples, channels]` (or `[samples]`) audio as WAV."""
    with atomic_open(path, "wb") as handle:
        sf.write(handle, np.asarray(audio), sample_rate, subtype=subtype, format="WAV")


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of an audio file without decoding its samples.

    Raises:
        AudioFileError: the file is missing, empty, truncated, unreadable or
            holds no audio frames.
    """
    with _open(path) as handle:
        return _info(handle)


def load_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    channels: int | None = None,
    duration: float | None = None,
    duration_tolerance: float = 0.0,
) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 `[samples, channels]` (always 2-D).

    Integer PCM is scaled to [-1, 1). Each of `sample_rate`, `channels` and
    `duration` (seconds) is checked when given; no resampling or channel
    mixing is done, because a dataset with the wrong rate or layout is a data
    error the caller should hear about, not something to paper over.

    Args:
        path: audio file (anything libsndfile reads: WAV, WAVE_EXTENSIBLE, FLAC, ...).
        sample_rate: required sample rate in Hz.
        channels: required number of channels.
        duration: required duration in seconds.
        duration_tolerance: allowed |found - expected| duration, seconds.

    Returns:
        `(audio, sample_rate)`.

    Raises:
        AudioFileError: the file is missing, empty, truncated or unreadable,
            does not match a requirement, or holds NaN / Inf samples.
    """
    with _open(path) as handle:
        info = _info(handle)
        if sample_rate is not None and info.sample_rate != sample_rate:
            raise AudioFileError(path, f"expected sample rate {sample_rate} Hz, found {info.sample_rate} Hz")
        if channels is not None and info.channels != channels:
            raise AudioFileError(path, f"expected {channels} channels, found {info.channels}")
        if duration is not None and abs(info.duration - duration) > duration_tolerance + _DURATION_EPSILON:
            raise AudioFileError(
                path,
                f"expected a duration of {duration:g} s (tolerance {duration_tolerance:g} s), "
                f"found {info.duration:g} s ({info.frames} frames at {info.sample_rate} Hz)",
            )
        try:
            audio = handle.read(dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as error:
            raise AudioFileError(path, f"cannot decode the audio data: {error}") from error
    finite = np.isfinite(audio)
    if not finite.all():
        bad = np.argwhere(~finite)
        sample, channel = bad[0]
        raise AudioFileError(
            path,
            f"expected finite samples, found {len(bad)} NaN/Inf values "
            f"(first at sample {sample}, channel {channel})",
        )
    return audio, info.sample_rate


def _open(path: str | os.PathLike) -> sf.SoundFile:
    """Open `path` for reading after checking that it exists, is not empty and is not truncated."""
    if not os.path.isfile(path):
        raise AudioFileError(path, "expected an audio file, found no such file")
    size = os.path.getsize(path)
    if size == 0:
        raise AudioFileError(path, "expected audio data, found an empty file (0 bytes)")
    _check_riff_chunks(path, size)
    try:
        return sf.SoundFile(path)
    except (sf.SoundFileError, RuntimeError) as error:
        raise AudioFileError(
            path, f"expected a readable audio file, found unreadable or unsupported content: {error}"
        ) from error


def _info(handle: sf.SoundFile) -> AudioInfo:
    info = AudioInfo(handle.samplerate, handle.channels, handle.frames, handle.frames / handle.samplerate)
    if info.frames == 0:
        raise AudioFileError(handle.name, "expected audio frames, found none (the file holds a header only)")
    return info


def _check_riff_chunks(path: str | os.PathLike, size: int) -> None:
    """Reject a RIFF/WAVE file whose chunks declare more bytes than the file holds.

    libsndfile reads a WAV whose `data` chunk was cut short without complaint
    and returns fewer frames than the header declares, so a partly copied file
    would look like a valid shorter clip. Walking the chunk headers up to the
    `data` chunk catches this, and a header cut inside the `fmt ` chunk too.
    A writer streaming to a pipe cannot seek back to fill in sizes and leaves
    `_STREAMED_SIZE` instead (ffmpeg, sox); libsndfile then reads the data up
    to the end of the file, which is accepted when it ends on a whole frame.
    A partial last frame is refused as cut short: a writer never emits one,
    so the stream was interrupted, and libsndfile would silently drop it.
    Other formats are left to libsndfile (which reports a truncated FLAC
    as a decoding error, but reads a truncated AIFF as a shorter file: pass
    `duration` to `load_audio` to catch that).
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return
        position = 12
        block_align = None
        while True:
            header = handle.read(8)
            if len(header) < 8:
                raise AudioFileError(
                    path,
                    f"truncated WAV header: expected a chunk header at byte {position}, "
                    f"found end of file ({size} bytes)",
                )
            chunk_id, chunk_size = struct.unpack("<4sI", header)
            available = size - position - 8
            if chunk_id == b"data" and chunk_size == _STREAMED_SIZE:
                # Without a `fmt ` chunk before the data there is no frame size to
                # check against, and libsndfile's own reading decides.
                if block_align and available % block_align:
                    raise AudioFileError(
                        path,
                        f"data cut short: the streamed 'data' chunk (size left unset) holds {available} bytes, "
                        f"not a whole number of {block_align}-byte frames",
                    )
                return
            if chunk_size > available:
                name = chunk_id.decode("ascii", errors="replace").strip()
                what = "data cut short" if chunk_id == b"data" else "truncated WAV header"
                raise AudioFileError(
                    path,
                    f"{what}: the '{name}' chunk declares {chunk_size} bytes, "
                    f"found only {available} bytes in the file",
                )
            if chunk_id == b"data":
                return
            if chunk_id == b"fmt " and chunk_size >= _FMT_BLOCK_ALIGN_END:
                (block_align,) = struct.unpack_from("<H", handle.read(_FMT_BLOCK_ALIGN_END), _FMT_BLOCK_ALIGN_END - 2)
            # RIFF chunks are padded to an even number of bytes.
            position += 8 + chunk_size + (chunk_size & 1)
            handle.seek(position)
