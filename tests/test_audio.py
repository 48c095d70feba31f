"""Tests of seld_tf.audio: values read back, and one clear error per kind of bad file."""

import struct

import numpy as np
import pytest
import soundfile as sf

from seld_tf.audio import AudioInfo, audio_info, load_audio, write_audio
from seld_tf.errors import AudioFileError

RATE = 8000


def _signal(channels: int, frames: int = 400) -> np.ndarray:
    return np.random.default_rng(channels).uniform(-0.9, 0.9, (frames, channels))


def _pcm16_wav(samples: list[int], rate: int = RATE, declared_bytes: int | None = None) -> bytes:
    """A mono 16-bit WAV built byte by byte from the RIFF specification."""
    data = struct.pack(f"<{len(samples)}h", *samples)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data) if declared_bytes is None else declared_bytes) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


# Largest error the subtype's quantisation (and float32 output) allows for values in [-1, 1).
SUBTYPES = [
    ("WAV", "PCM_16", 2.0**-15),
    ("WAV", "PCM_24", 2.0**-23),
    ("WAV", "PCM_32", 2.0**-24),
    ("WAV", "FLOAT", 0.0),
    ("WAV", "DOUBLE", 2.0**-24),
    ("WAVEX", "PCM_16", 2.0**-15),
    ("WAVEX", "FLOAT", 0.0),
]


@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("file_format, subtype, tolerance", SUBTYPES)
def test_values_read_back_within_quantisation(tmp_path, file_format, subtype, tolerance, channels):
    path = tmp_path / "clip.wav"
    original = _signal(channels).astype(np.float32)
    sf.write(path, original, RATE, subtype=subtype, format=file_format)
    audio, rate = load_audio(path, sample_rate=RATE, channels=channels, duration=0.05)
    assert rate == RATE
    assert audio.dtype == np.float32 and audio.shape == (400, channels)
    np.testing.assert_allclose(audio, original, rtol=0, atol=tolerance)


def test_hand_crafted_pcm16_is_scaled_by_two_to_the_fifteen(tmp_path):
    path = tmp_path / "hand.wav"
    path.write_bytes(_pcm16_wav([0, 16384, -32768, 32767, -1]))
    audio, rate = load_audio(path)
    assert rate == RATE
    np.testing.assert_array_equal(audio, [[0.0], [0.5], [-1.0], [32767 / 32768], [-1 / 32768]])


def test_audio_info_and_write_audio(tmp_path):
    path = tmp_path / "four.wav"
    write_audio(path, _signal(4, frames=1200), RATE)
    assert audio_info(path) == AudioInfo(sample_rate=RATE, channels=4, frames=1200, duration=0.15)


def test_duration_tolerance(tmp_path):
    path = tmp_path / "short.wav"
    write_audio(path, _signal(1, frames=790), RATE)  # 0.09875 s
    audio, _ = load_audio(path, duration=0.1, duration_tolerance=0.002)
    assert audio.shape == (790, 1)
    with pytest.raises(AudioFileError) as caught:
        load_audio(path, duration=0.1, duration_tolerance=0.001)
    message = str(caught.value)
    assert "short.wav" in message and "0.1 s" in message and "0.09875 s" in message and "790 frames" in message


def test_wrong_sample_rate(tmp_path):
    path = tmp_path / "rate.wav"
    write_audio(path, _signal(4), RATE)
    with pytest.raises(AudioFileError, match=r"rate\.wav: expected sample rate 24000 Hz, found 8000 Hz"):
        load_audio(path, sample_rate=24000)


def test_wrong_channel_count(tmp_path):
    path = tmp_path / "mono.wav"
    write_audio(path, _signal(1)[:, 0], RATE)
    with pytest.raises(AudioFileError, match=r"mono\.wav: expected 4 channels, found 1"):
        load_audio(path, channels=4)


def test_nan_samples(tmp_path):
    path = tmp_path / "nan.wav"
    audio = _signal(2)
    audio[7, 1] = np.nan
    audio[9, 0] = np.inf
    sf.write(path, audio, RATE, subtype="FLOAT")
    with pytest.raises(AudioFileError) as caught:
        load_audio(path)
    message = str(caught.value)
    assert "nan.wav" in message and "expected finite samples" in message
    assert "found 2 NaN/Inf values" in message and "sample 7, channel 1" in message


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match=r"absent\.wav: expected an audio file, found no such file"):
        audio_info(tmp_path / "absent.wav")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioFileError, match=r"empty\.wav: .*found an empty file \(0 bytes\)"):
        load_audio(path)


def test_header_without_frames(tmp_path):
    path = tmp_path / "noframes.wav"
    path.write_bytes(_pcm16_wav([]))
    with pytest.raises(AudioFileError, match=r"noframes\.wav: expected audio frames, found none"):
        load_audio(path)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("frame,class,track\n1,2,3\n")
    with pytest.raises(AudioFileError, match=r"notes\.wav: expected a readable audio file, found unreadable"):
        audio_info(path)


def test_header_cut_inside_fmt_chunk(tmp_path):
    path = tmp_path / "cut_header.wav"
    # RIFF header (12) + fmt chunk header (8) + 10 of the 16 fmt bytes.
    path.write_bytes(_pcm16_wav([1, 2, 3])[:30])
    with pytest.raises(AudioFileError) as caught:
        load_audio(path)
    message = str(caught.value)
    assert "cut_header.wav" in message and "truncated WAV header" in message
    assert "'fmt' chunk declares 16 bytes, found only 10 bytes" in message


def test_header_cut_between_chunks(tmp_path):
    path = tmp_path / "no_data_chunk.wav"
    path.write_bytes(_pcm16_wav([1, 2, 3])[:40])  # ends 4 bytes into the data chunk header
    expected = r"no_data_chunk\.wav: truncated WAV header: expected a chunk header at byte 36"
    with pytest.raises(AudioFileError, match=expected):
        audio_info(path)


def test_data_cut_short(tmp_path):
    path = tmp_path / "cut_data.wav"
    path.write_bytes(_pcm16_wav(list(range(100)))[:-50])  # 200 data bytes declared, 150 kept
    with pytest.raises(AudioFileError, match=r"cut_data\.wav: data cut short: .*declares 200 bytes, found only 150"):
        load_audio(path)


def test_data_size_declared_larger_than_written(tmp_path):
    path = tmp_path / "lying.wav"
    path.write_bytes(_pcm16_wav([1, 2, 3], declared_bytes=8))
    with pytest.raises(AudioFileError, match=r"lying\.wav: data cut short: .*declares 8 bytes, found only 6"):
        audio_info(path)


def test_odd_sized_chunk_is_padded(tmp_path):
    # A 3-byte LIST chunk padded to 4 bytes before the data chunk: must not be reported as truncated.
    path = tmp_path / "padded.wav"
    plain = _pcm16_wav([100, -100])
    fmt_end = 12 + 8 + 16
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    body = plain[8:fmt_end] + extra + plain[fmt_end:]
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    audio, _ = load_audio(path)
    np.testing.assert_array_equal(audio[:, 0], [100 / 32768, -100 / 32768])


def test_truncated_flac(tmp_path):
    path = tmp_path / "cut.flac"
    sf.write(path, _signal(2, frames=8000), RATE, format="FLAC")
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(AudioFileError, match=r"cut\.flac: cannot decode the audio data"):
        load_audio(path)


def _streamed(wav: bytes, riff_too: bool) -> bytes:
    """`wav` with the size fields a writer streaming to a pipe leaves unset (ffmpeg, sox)."""
    raw = bytearray(wav)
    data = raw.index(b"data")
    raw[data + 4 : data + 8] = struct.pack("<I", 0xFFFFFFFF)
    if riff_too:
        raw[4:8] = struct.pack("<I", 0xFFFFFFFF)
    return bytes(raw)


@pytest.mark.parametrize("riff_too", [False, True])
@pytest.mark.parametrize("file_format, subtype", [("WAV", "PCM_16"), ("WAVEX", "PCM_24"), ("WAV", "FLOAT")])
def test_streamed_wav_with_unset_sizes_loads_whole(tmp_path, file_format, subtype, riff_too):
    written = tmp_path / "written.wav"
    sf.write(written, _signal(4).astype(np.float32), RATE, subtype=subtype, format=file_format)
    streamed = tmp_path / "streamed.wav"
    streamed.write_bytes(_streamed(written.read_bytes(), riff_too))
    expected, _ = load_audio(written)
    audio, rate = load_audio(streamed, sample_rate=RATE, channels=4, duration=0.05)
    assert rate == RATE
    np.testing.assert_array_equal(audio, expected)


def test_streamed_wav_with_a_partial_last_frame_is_cut_short(tmp_path):
    path = tmp_path / "cut_stream.wav"
    written = tmp_path / "written.wav"
    sf.write(written, _signal(4), RATE, subtype="PCM_16")  # 8-byte frames
    path.write_bytes(_streamed(written.read_bytes(), riff_too=True)[:-3])
    expected = r"cut_stream\.wav: data cut short: the streamed 'data' chunk .* holds 3197 bytes, not a whole number of 8-byte frames"
    with pytest.raises(AudioFileError, match=expected):
        load_audio(path)
