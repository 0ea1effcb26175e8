"""A voice clip's checks (format, size, duration) and its decoding to 16 kHz mono PCM."""

import io
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

MAX_CLIP_BYTES = 2 * 1024 * 1024
MAX_CLIP_SECONDS = 15.0
SAMPLE_RATE = 16000
# soundfile's container names -> the extension the clip is stored under
FORMATS = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg"}


class ClipError(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ClipInfo:
    extension: str
    seconds: float


def clip_check(data: bytes) -> ClipInfo:
    """The clip's format and length; raises ClipError for anything the contract refuses."""
    if len(data) > MAX_CLIP_BYTES:
        raise ClipError(413, "payload_too_large", f"A voice clip is at most {MAX_CLIP_BYTES // 1024 // 1024} MiB.")
    if not data:
        raise ClipError(400, "malformed", "The audio file is empty.")
    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        raise ClipError(415, "unsupported_media_type", "The audio must be a WAV, FLAC or OGG (Vorbis/Opus) file.") from None
    if info.format not in FORMATS:
        raise ClipError(415, "unsupported_media_type", f"{info.format} audio is not accepted: send WAV, FLAC or OGG.")
    if info.samplerate <= 0 or info.frames <= 0:
        raise ClipError(400, "malformed", "The audio file holds no sound.")
    seconds = info.frames / info.samplerate
    if seconds > MAX_CLIP_SECONDS:
        raise ClipError(400, "audio_too_long", f"A voice clip is at most {MAX_CLIP_SECONDS:g} seconds; this one is {seconds:.1f} s.")
    return ClipInfo(extension=FORMATS[info.format], seconds=seconds)


def clip_pcm16k(data: bytes) -> bytes:
    """Decode WAV/FLAC/OGG, mix down to mono and resample to 16 kHz: signed 16-bit little-endian PCM."""
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return (np.clip(trim_silence(mono), -1.0, 1.0) * 32767).astype("<i2").tobytes()


def trim_silence(mono: "np.ndarray", *, frame: int = 160, margin_frames: int = 5) -> "np.ndarray":
    """Cut the quiet before the first and after the last spoken frame (10 ms frames whose
    energy is within 35 dB of the loudest), keeping 50 ms either side. The grammar has no
    silence model (fillers in it made the decoder stop early), so leading and trailing quiet
    would otherwise be forced into words."""
    frames = len(mono) // frame
    if frames == 0:
        return mono
    energy = np.sqrt(np.mean(mono[: frames * frame].reshape(frames, frame) ** 2, axis=1))
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-35 / 20))
    if energy.max() <= 0 or len(loud) == 0:
        return mono
    start = max(0, loud[0] - margin_frames) * frame
    end = min(frames, loud[-1] + 1 + margin_frames) * frame
    return mono[start:end]
