"""The device pool (dash.wsgi.device_application) hands multipart voice uploads to the Django
view instead of its direct JSON route (which refuses bodies over 4 KiB)."""

import io
import uuid

import orjson
import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from devices.models import VoiceClip
from tests.device_pool import device_pool_call
from tests.devices.test_voice_intake import spoken
from tests.factories import make_wand


def _post_multipart(token: str, fields: dict):
    body = encode_multipart(BOUNDARY, fields)
    return device_pool_call("/api/v1/device/events", token=token, body=body, content_type=MULTIPART_CONTENT)


@pytest.mark.django_db(transaction=True)
def test_the_device_pool_accepts_a_voice_upload_through_the_django_view(customer, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "voice_clips": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    wand = make_wand(customer=customer)
    audio = io.BytesIO(spoken("buy some laundry pods"))
    audio.name = "clip.wav"
    event_id = uuid.uuid4().hex
    status, headers, content = _post_multipart(wand.token, {"event_id": event_id, "type": "voice", "audio": audio})
    assert status == 202, content
    assert headers["Content-Length"] == str(len(content))
    assert orjson.loads(content)["outcome"] == "processing"
    assert VoiceClip.objects.filter(device=wand, event_id=event_id).exists()


@pytest.mark.django_db(transaction=True)
def test_the_device_pool_refuses_a_voice_upload_past_the_limit(customer):
    wand = make_wand(customer=customer)
    audio = io.BytesIO(b"\0" * (3 * 1024 * 1024))
    audio.name = "clip.wav"
    status, _, content = _post_multipart(wand.token, {"event_id": "v-big", "type": "voice", "audio": audio})
    assert (status, orjson.loads(content)["error"]["code"]) == (413, "payload_too_large")
    assert not VoiceClip.objects.exists()
