"""Reads for spoken orders."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from devices.models import VoiceClip
from devices.voice.services import AWAITING_CUSTOMER


def voice_outcome(*, device_id: int, event_id: str) -> bytes | None:
    """A voice event's settled answer (the device polls it), or None while processing or for
    any other event."""
    row = (
        VoiceClip.objects.filter(device_id=device_id, event_id=event_id, answer_body__isnull=False)
        .values_list("answer_body", flat=True)
        .first()
    )
    return bytes(row) if row is not None else None


def voice_clips_awaiting_customer(*, customer_id: int) -> QuerySet[VoiceClip]:
    """Spoken orders the customer has to answer: "Did you mean ...?" and "not in the catalog"."""
    return VoiceClip.objects.filter(customer_id=customer_id, status__in=AWAITING_CUSTOMER).select_related("order__product", "device")


def voice_clip_for_customer(*, customer_id: int, public_id) -> VoiceClip:
    """Raises VoiceClip.DoesNotExist for any clip not the customer's own (a 404)."""
    return VoiceClip.objects.get(customer_id=customer_id, public_id=public_id)


def voice_clips_stalled(*, now: datetime, older_than: timedelta, give_up_after: timedelta) -> list[int]:
    """Clips still `processing` past `older_than`: their transcription task was lost (the broker
    was down when it was queued, or lost its data). Clips older than `give_up_after` are left
    alone so a clip that always fails is not retried for ever."""
    return list(
        VoiceClip.objects.filter(
            status=VoiceClip.Status.PROCESSING, received_at__lt=now - older_than, received_at__gte=now - give_up_after
        ).values_list("pk", flat=True)
    )
