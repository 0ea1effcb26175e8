"""Voice events: the multipart upload, its limits, the stored clip and the polled outcome."""

import io
import math
import struct
import subprocess
import wave

import numpy as np
import orjson
import pytest
import soundfile

from devices.models import DeviceEvent, VoiceClip
from orders.models import Order
from tests.factories import make_button, make_wand


def spoken(text: str, fmt: str = "wav", *, voice: str = "en-us", speed: int = 150) -> bytes:
    """A clip of `text` spoken by espeak-ng (a Debian package the Makefile installs)."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True).stdout
    if fmt == "wav":
        return wav
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format=fmt.upper(), **({"subtype": "VORBIS"} if fmt == "ogg" else {}))
    return out.getvalue()


def tone_wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(int(seconds * rate))))
    return out.getvalue()


@pytest.fixture
def wand(customer):
    return make_wand(customer=customer)


@pytest.fixture
def say(client):
    """POST a voice event as multipart/form-data: `say(device, event_id, audio_bytes)`."""

    def _say(device, event_id: str, audio: bytes | None, *, filename: str = "clip.wav", token: str | None = "device", **fields):
        data = {"event_id": event_id, "type": "voice", **fields}
        if audio is not None:
            data["audio"] = io.BytesIO(audio)
            data["audio"].name = filename
        headers = {"HTTP_AUTHORIZATION": f"Device {device.token if token == 'device' else token}"} if token else {}
        return client.post("/api/v1/device/events", data, **headers)

    return _say


@pytest.fixture
def voice_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "voice_clips": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "voice")}},
    }
    return tmp_path / "voice"


def stored_files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_a_voice_event_answers_processing_and_stores_the_clip(wand, say, voice_storage, fmt):
    clip = spoken("buy some laundry pods", fmt)
    response = say(wand, f"v-{fmt}", clip, filename=f"clip.{fmt}")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body == {"event_id": f"v-{fmt}", "outcome": "processing", "detail": body["detail"], "order": None}
    stored = VoiceClip.objects.get()
    assert (stored.status, stored.device_id, stored.customer_id) == ("processing", wand.pk, wand.customer_id)
    assert stored.audio_name.endswith(f".{fmt}")
    assert [p.read_bytes() for p in stored_files(voice_storage)] == [clip]
    event = DeviceEvent.objects.get()
    assert (event.type, event.outcome, event.status_code) == ("voice", "processing", 202)
    assert event.payload["audio"]["format"] == fmt


@pytest.mark.django_db(transaction=True)
def test_a_replayed_voice_event_returns_processing_byte_for_byte_and_stores_one_clip(wand, say, voice_storage):
    clip = spoken("buy some laundry pods")
    first = say(wand, "v-replay", clip)
    replay = say(wand, "v-replay", clip)
    other = say(wand, "v-replay", spoken("get me paper towels"))
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (202, first.content, "true")
    assert (other.status_code, other.json()["error"]["code"]) == (422, "event_id_reused")
    assert VoiceClip.objects.count() == 1
    assert len(stored_files(voice_storage)) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("audio", "filename", "status", "code"),
    [
        (b"\0" * (2 * 1024 * 1024 + 1), "big.wav", 413, "payload_too_large"),
        ("long", "long.wav", 400, "audio_too_long"),
        (b"ID3\x03\x00\x00\x00" + b"\x00" * 500, "clip.mp3", 415, "unsupported_media_type"),
        (b"not audio at all", "clip.wav", 415, "unsupported_media_type"),
        (b"", "clip.wav", 400, "malformed"),
        (None, "", 400, "malformed"),
    ],
)
def test_a_refused_clip_gets_a_clear_error_and_nothing_is_recorded(wand, say, voice_storage, audio, filename, status, code):
    if audio == "long":
        audio = tone_wav(15.5)
    response = say(wand, "v-bad", audio, filename=filename)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert "audio" in error["fields"]
    assert not DeviceEvent.objects.exists()
    assert not VoiceClip.objects.exists()
    assert stored_files(voice_storage) == []


@pytest.mark.django_db(transaction=True)
def test_a_clip_of_exactly_fifteen_seconds_is_accepted(wand, say, voice_storage):
    assert say(wand, "v-15", tone_wav(15.0)).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_a_body_past_the_limit_is_refused_before_it_is_read(wand, client, voice_storage):
    body = b"--x\r\n" + b"a" * (3 * 1024 * 1024)
    response = client.generic(
        "POST", "/api/v1/device/events", body, content_type="multipart/form-data; boundary=x", HTTP_AUTHORIZATION=f"Device {wand.token}"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (413, "payload_too_large")
    assert not DeviceEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("token", "status"), [(None, 401), ("dt_nope", 401)])
def test_a_voice_event_without_a_valid_token_is_unauthorized(wand, say, voice_storage, token, status):
    response = say(wand, "v-auth", spoken("buy some laundry pods"), token=token)
    assert (response.status_code, response.json()["error"]["code"]) == (status, "unauthorized")
    assert not VoiceClip.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_button_cannot_send_voice_and_a_json_voice_event_is_the_wrong_media_type(customer, product, say, client, voice_storage):
    button = make_button(customer=customer, product=product)
    response = say(button, "v-button", spoken("buy some laundry pods"))
    assert (response.status_code, response.json()["error"]["code"]) == (422, "type_not_supported")
    wand = make_wand(customer=customer)
    body = {"event_id": "v-json", "type": "voice"}
    response = client.post("/api/v1/device/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Device {wand.token}")
    assert (response.status_code, response.json()["error"]["code"]) == (415, "unsupported_media_type")
    assert stored_files(voice_storage) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kwargs", "outcome"), [({"customer": None}, "device_unclaimed"), ({"paused": True}, "device_paused")])
def test_an_unclaimed_or_paused_wand_records_the_refusal_and_keeps_no_clip(customer, say, voice_storage, kwargs, outcome):
    wand = make_wand(**{"customer": customer, **kwargs})
    response = say(wand, "v-x", spoken("buy some laundry pods"))
    assert (response.status_code, response.json()["outcome"]) == (409, outcome)
    assert not VoiceClip.objects.exists()
    assert stored_files(voice_storage) == []
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_outcome_is_polled_at_the_event_and_the_replay_still_says_processing(wand, say, client, voice_storage):
    # given a clip recorded as processing
    clip = spoken("buy some laundry pods")
    first = say(wand, "v-poll", clip)
    poll = client.get("/api/v1/device/events/v-poll", HTTP_AUTHORIZATION=f"Device {wand.token}")
    assert orjson.loads(poll.content)["outcome"] == "processing"
    # when its outcome is settled
    stored = VoiceClip.objects.get()
    final = orjson.dumps({"event_id": "v-poll", "outcome": "unknown_product", "detail": "x", "order": None})
    VoiceClip.objects.filter(pk=stored.pk).update(status="unknown_product", answer_status=422, answer_body=final)
    # then the poll shows it, and a replay of the upload still gets the first answer
    poll = client.get("/api/v1/device/events/v-poll", HTTP_AUTHORIZATION=f"Device {wand.token}")
    assert (poll.status_code, poll.content) == (200, final)
    assert say(wand, "v-poll", clip).content == first.content


def test_a_generated_clip_is_real_speech():
    samples, rate = soundfile.read(io.BytesIO(spoken("buy some laundry pods")))
    assert rate > 8000 and len(samples) / rate > 0.5
    assert np.abs(samples).max() > 0.1
