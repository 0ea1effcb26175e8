"""Voice clips in S3-compatible storage (django-storages against moto's server on 127.0.0.1)
and the clips' retention."""

import io
from datetime import timedelta

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.utils import timezone
from moto.server import ThreadedMotoServer

from devices.models import VoiceClip, voice_clip_storage
from devices.voice.services import voice_clip_transcribe, voice_clips_prune
from orders.models import Order, OrderStatus
from tests.devices.test_voice_intake import spoken
from tests.factories import ProductFactory, make_voice_clip, make_wand

BUCKET = "dash-voice-test"


@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_storage(settings, s3_server):
    """The voice storage as DASH_VOICE_STORAGE=s3 configures it, pointed at moto."""
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "voice_clips": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "location": "voice",
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client) -> list[str]:
    return [obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.mark.django_db(transaction=True)
def test_a_clip_goes_to_s3_is_transcribed_from_there_played_and_pruned(client, customer, s3_storage):
    # given a wand and a catalog
    product = ProductFactory(name="Plastic Wrap, 200 sq ft", aliases=["plastic wrap", "cling film"])
    ProductFactory(name="Paper Towels, 6 Rolls", aliases=["paper towels"])
    wand = make_wand(customer=customer)
    audio = spoken("get me some plastic wrap")
    upload = io.BytesIO(audio)
    upload.name = "clip.wav"
    # when a clip is uploaded
    response = client.post(
        "/api/v1/device/events", {"event_id": "v-s3", "type": "voice", "audio": upload}, HTTP_AUTHORIZATION=f"Device {wand.token}"
    )
    assert response.status_code == 202
    # then it is an object in the bucket, byte for byte
    clip = VoiceClip.objects.get()
    (key,) = _keys(s3_storage)
    assert key == f"voice/{clip.audio_name}"
    assert s3_storage.get_object(Bucket=BUCKET, Key=key)["Body"].read() == audio
    # and the task reads it from there
    settled = voice_clip_transcribe(clip_id=clip.pk)
    assert settled.candidates[0]["sku"] == product.sku
    # and the customer plays it through Dash (never a public bucket URL)
    client.force_login(customer)
    played = client.get(f"/devices/voice/{clip.public_id}/audio")
    assert b"".join(played.streaming_content) == audio
    # and the retention deletes it
    assert voice_clips_prune(now=timezone.now() + timedelta(days=django_settings.DASH_VOICE_RETENTION_DAYS, seconds=1)) == 1
    assert _keys(s3_storage) == []
    assert not VoiceClip.objects.exists()


@pytest.fixture
def local_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "voice_clips": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_clips_past_the_retention_window_are_deleted_with_their_files(customer, local_storage, settings):
    settings.DASH_VOICE_RETENTION_DAYS = 7
    wand = make_wand(customer=customer)
    product = ProductFactory()
    now = timezone.now()
    old_name = voice_clip_storage().save("old.wav", ContentFile(b"old"))
    new_name = voice_clip_storage().save("new.wav", ContentFile(b"new"))
    old = make_voice_clip(device=wand, products=[product], audio_name=old_name)
    new = make_voice_clip(device=wand, products=[], status="unknown_product", audio_name=new_name)
    VoiceClip.objects.filter(pk=old.pk).update(received_at=now - timedelta(days=7, minutes=1))
    VoiceClip.objects.filter(pk=new.pk).update(received_at=now - timedelta(days=6, hours=23))
    # when
    assert voice_clips_prune(now=now) == 1
    # then the old clip, its file and its unanswered proposal are gone; the newer one stays
    assert list(VoiceClip.objects.values_list("pk", flat=True)) == [new.pk]
    assert sorted(p.name for p in local_storage.iterdir()) == ["new.wav"]
    assert Order.objects.get(pk=old.order.pk).status == OrderStatus.CANCELLED
    assert voice_clips_prune(now=now) == 0


def test_the_retention_runs_on_beat_with_a_seven_day_default():
    assert django_settings.DASH_VOICE_RETENTION_DAYS == 7
    entry = django_settings.CELERY_BEAT_SCHEDULE["prune-voice-clips"]
    assert entry["task"] == "devices.tasks.prune_voice_clips"
    assert django_settings.CELERY_TASK_ROUTES["devices.tasks.prune_voice_clips"] == {"queue": "bulk"}
