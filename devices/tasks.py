import logging
from datetime import timedelta

from celery import shared_task

from devices import appliances, health, services

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def prune_device_events() -> int:
    """Beat: delete device events past DASH_EVENT_RETENTION_HOURS."""
    return services.device_events_prune()


@shared_task(ignore_result=True)
def check_device_health() -> None:
    """Beat: tell customers about silent devices and low batteries, once per episode."""
    health.devices_check_health()


@shared_task(ignore_result=True)
def prune_slot_readings() -> int:
    """Beat: delete appliance readings past DASH_SLOT_READING_RETENTION_DAYS."""
    return appliances.slot_readings_prune()


@shared_task(bind=True, ignore_result=True, max_retries=3)
def transcribe_voice_clip(self, clip_id: int) -> None:
    """Transcribe a wand's clip and settle its outcome (safe to run twice)."""
    from devices.voice.services import voice_clip_transcribe

    voice_clip_transcribe(clip_id=clip_id)


@shared_task(ignore_result=True)
def prune_voice_clips() -> int:
    """Beat: delete voice clips past DASH_VOICE_RETENTION_DAYS (file and row)."""
    from devices.voice.services import voice_clips_prune

    return voice_clips_prune()


@shared_task(ignore_result=True)
def requeue_stalled_voice_clips() -> int:
    """Beat: queue again the transcription of clips still processing after
    DASH_VOICE_STALL_SECONDS (the task is safe to run twice); given up after an hour."""
    from django.conf import settings
    from django.utils import timezone

    from devices.voice.selectors import voice_clips_stalled

    stalled = voice_clips_stalled(
        now=timezone.now(), older_than=timedelta(seconds=settings.DASH_VOICE_STALL_SECONDS), give_up_after=timedelta(hours=1)
    )
    for clip_id in stalled:
        transcribe_voice_clip.delay(clip_id)
    if stalled:
        log.warning("stalled_voice_clips_requeued count=%s", len(stalled))
    return len(stalled)
