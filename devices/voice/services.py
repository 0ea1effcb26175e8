"""Every write for spoken orders: the upload, the transcription's outcome, the customer's
answer to "Did you mean ...?", and the clips' retention."""

import hashlib
import logging
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from devices import credentials
from devices.intake import DeviceEventInput, IntakeError, answer_body, event_of
from devices.models import DeviceEvent, DeviceKind, VoiceClip, voice_clip_storage
from devices.scan import preferred_quantity
from devices.selectors import stored_answer
from devices.services import DeviceError, IntakeAnswer, _DuplicateEvent, _record, _replay, intake_admit, unauthorized_first
from devices.voice import audio as clip_audio
from devices.voice.matching import Match, match_transcript
from devices.voice.recognizer import Vocabulary, recognizer_for, vocabulary_of
from orders.models import OrderSource, OrderStatus
from orders.selectors import customer_has_received, iso, order_summary
from orders.services import order_approve, order_cancel, order_place
from partners.models import Product

log = logging.getLogger(__name__)

S = VoiceClip.Status
AWAITING_CUSTOMER = (S.NEEDS_CONFIRMATION, S.UNKNOWN_PRODUCT)
FORM_FIELDS = ("event_id", "type", "occurred_at")


# --- The upload ------------------------------------------------------------------------


def voice_event_ingest(*, token: str | None, fields: dict[str, str], audio: bytes | None) -> IntakeAnswer:
    """A voice event (multipart: the form's fields and the `audio` file's bytes).

    Answers `processing` (202) once the clip is stored and the event committed; the outcome
    follows from the transcription task. Nothing is stored for a refused request, and a replay
    gets the first answer byte for byte."""
    if not token:
        raise IntakeError(401, "unauthorized", "Send 'Authorization: Device <token>'.")
    token_hash = credentials.hash_token(token)
    data = {key: value for key, value in fields.items() if key in FORM_FIELDS}
    if data.get("type") != "voice":
        with unauthorized_first(token_hash=token_hash):
            raise IntakeError(415, "unsupported_media_type", "Only voice events are sent as multipart/form-data; send others as application/json.")
    missing = {} if audio is not None else {"audio": ["Required: the spoken order as a WAV, FLAC or OGG file."]}
    audio_hash = hashlib.sha256(audio or b"").hexdigest()
    with unauthorized_first(token_hash=token_hash):
        event = event_of(data, extra_errors=missing, content_hash=audio_hash)
    admitted = intake_admit(token_hash=token_hash, event=event)
    if isinstance(admitted, IntakeAnswer):
        return admitted
    ctx, now = admitted
    if ctx.kind != DeviceKind.WAND:
        raise IntakeError(
            422,
            "type_not_supported",
            f"A {ctx.kind} cannot send voice events; wands do.",
            fields={"type": ["Not supported for this device."]},
        )
    try:
        info = clip_audio.clip_check(audio)
    except clip_audio.ClipError as exc:
        raise IntakeError(exc.status, exc.code, exc.detail, fields={"audio": [exc.detail]}) from None
    event = DeviceEventInput(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        payload={**data, "audio": {"sha256": audio_hash, "bytes": len(audio), "format": info.extension, "seconds": round(info.seconds, 2)}},
        body_hash=event.body_hash,
    )
    try:
        if ctx.customer_id is None:
            return _record(
                ctx, event, now, 409, "device_unclaimed", "No customer has linked this device yet; enter its claim code on the website."
            )
        if ctx.paused:
            return _record(ctx, event, now, 409, "device_paused", "This device is paused; unpause it on the website to order again.")
        return _store_and_record(ctx, event, now, audio=audio, info=info)
    except _DuplicateEvent:
        return _replay(stored_answer(device_id=ctx.device_id, event_id=event.event_id), event)


def _store_and_record(ctx, event: DeviceEventInput, now: datetime, *, audio: bytes, info) -> IntakeAnswer:
    storage = voice_clip_storage()
    name = storage.save(f"{ctx.serial}/{now:%Y%m%d}/{event.event_id}-{uuid.uuid4().hex[:8]}.{info.extension}", ContentFile(audio))
    try:
        with transaction.atomic():
            detail = f"Heard you. The outcome follows: GET /api/v1/device/events/{event.event_id}"
            answer = _record(ctx, event, now, 202, "processing", detail)
            clip = VoiceClip.objects.create(
                device_id=ctx.device_id,
                customer_id=ctx.customer_id,
                event_id=event.event_id,
                audio_name=name,
                seconds=info.seconds,
                received_at=now,
            )
            transaction.on_commit(lambda: _transcribe_later(clip.pk))
    except BaseException:
        storage.delete(name)  # nothing was acknowledged: keep no orphan clip
        raise
    log.info("voice_clip_received device=%s event=%s clip=%s seconds=%.1f", ctx.serial, event.event_id, clip.public_id, info.seconds)
    return answer


def _transcribe_later(clip_id: int) -> None:
    from devices import tasks

    tasks.transcribe_voice_clip.delay(clip_id)


# --- Transcription and the outcome --------------------------------------------------------


def catalog_vocabulary() -> Vocabulary:
    """The active catalog as spoken phrases (145 rows for the demo: read on every clip, so a
    catalog change is heard from the next clip on)."""
    rows = Product.objects.filter(active=True).values_list("sku", "name", "aliases")
    return vocabulary_of([(sku, name, list(aliases or [])) for sku, name, aliases in rows])


def voice_clip_transcribe(*, clip_id: int) -> VoiceClip:
    """Transcribe a clip, match it and settle its outcome. Safe to run twice: a clip already
    settled is left alone."""
    clip = VoiceClip.objects.select_related("device").get(pk=clip_id)
    if clip.status != S.PROCESSING:
        return clip
    with voice_clip_storage().open(clip.audio_name, "rb") as fh:
        data = fh.read()
    vocabulary = catalog_vocabulary()
    started = time.perf_counter()
    transcript = recognizer_for(vocabulary).transcribe(clip_audio.clip_pcm16k(data))
    match = match_transcript(transcript, vocabulary)
    elapsed = time.perf_counter() - started
    return _settle(clip_id=clip.pk, transcript_text=transcript.text, match=match, elapsed=elapsed)


def _candidates_json(match: Match) -> list[dict]:
    names = dict(Product.objects.filter(sku__in=[c.sku for c in match.candidates]).values_list("sku", "name"))
    return [{"sku": c.sku, "name": names.get(c.sku, c.sku), "score": c.score} for c in match.candidates if c.sku in names]


@transaction.atomic
def _settle(*, clip_id: int, transcript_text: str, match: Match, elapsed: float) -> VoiceClip:
    clip = VoiceClip.objects.select_for_update(of=("self",)).select_related("device").get(pk=clip_id)
    if clip.status != S.PROCESSING:
        return clip
    device = clip.device
    candidates = _candidates_json(match)
    heard = f'"{transcript_text}"' if transcript_text else "nothing we could make out"
    order = None
    if match.verdict == "unknown" or not candidates:
        status, http, detail = S.UNKNOWN_PRODUCT, 422, f"We heard {heard}, which is not in the catalog; see your orders page."
    else:
        product = Product.objects.get(sku=candidates[0]["sku"])
        # Placed without asking only when the match is confident AND the product is one the
        # customer already buys: `make bench-voice` found the decoder sure (lattice posterior
        # 1.0) of some wrong products, so a first voice order of a product always asks.
        confident = match.verdict == "confident" and customer_has_received(customer_id=clip.customer_id, product_id=product.pk)
        result = order_place(
            customer_id=clip.customer_id,
            product=product,
            quantity=preferred_quantity(customer_id=clip.customer_id, product_id=product.pk),
            source=OrderSource.VOICE,
            actor=f"device:{device.serial}",
            device_serial=device.serial,
            hold_seconds=device.hold_seconds,
            reason=f"voice {clip.event_id}: {heard}"[:300],
            needs_confirmation=not confident,
        )
        order = result.order
        if confident and result.created:
            status, http = S.ORDER_PLACED, 201
            detail = f"Order placed: {order.quantity} x {product.name}, held until {iso(order.hold_until)} for you to approve or remove."
        elif confident or order.status != OrderStatus.NEEDS_CONFIRMATION:
            # Already on its way (or, unsure, waiting): nothing new was ordered.
            status, http = (S.ORDER_IN_PROGRESS, 200) if confident else (S.NEEDS_CONFIRMATION, 202)
            detail = f"An order for {product.name} is already {order.status}; no new order was placed."
            if not confident:
                order = None
                detail = f"We heard {heard}. Did you mean {product.name}? Confirm it on your orders page."
        else:
            status, http = S.NEEDS_CONFIRMATION, 202
            detail = f"We heard {heard}. Did you mean {product.name}? Confirm it on your orders page."
    body = answer_body(event_id=clip.event_id, outcome=str(status), detail=detail, order=order_summary(order) if order else None)
    clip.status = status
    clip.transcript = transcript_text[:300]
    clip.confidence = match.confidence
    clip.candidates = candidates
    clip.order = order
    clip.answer_status = http
    clip.answer_body = body
    clip.transcription_seconds = elapsed
    clip.resolved_at = timezone.now() if status in (S.ORDER_PLACED, S.ORDER_IN_PROGRESS) else None
    clip.save(
        update_fields=[
            "status",
            "transcript",
            "confidence",
            "candidates",
            "order",
            "answer_status",
            "answer_body",
            "transcription_seconds",
            "resolved_at",
        ]
    )
    # The event log keeps the first answer (replays), and records the outcome for analytics.
    DeviceEvent.objects.filter(device_id=clip.device_id, event_id=clip.event_id).update(
        outcome=str(status), order=order, product_id=order.product_id if order is not None else None
    )
    log.info(
        "voice_clip_settled clip=%s device=%s outcome=%s confidence=%s order=%s seconds=%.2f",
        clip.public_id, device.serial, status, match.confidence, order.public_id if order else "-", elapsed,
    )  # fmt: skip
    return clip


# --- The customer's answer ------------------------------------------------------------------


def _own_clip_for_update(*, customer_id: int, public_id) -> VoiceClip:
    """Raises VoiceClip.DoesNotExist for any clip not the customer's own (a 404)."""
    return (
        VoiceClip.objects.select_for_update(of=("self",))
        .select_related("order", "device")
        .get(customer_id=customer_id, public_id=public_id)
    )


def _awaiting(clip: VoiceClip) -> None:
    if clip.status not in AWAITING_CUSTOMER:
        raise DeviceError("not_awaiting", f"This spoken order is already settled ({clip.get_status_display().lower()}).", status=409)


def _resolve(clip: VoiceClip, *, status: str, order=None) -> VoiceClip:
    clip.status = status
    clip.order = order if order is not None else clip.order
    clip.resolved_at = timezone.now()
    clip.save(update_fields=["status", "order", "resolved_at"])
    log.info("voice_clip_resolved clip=%s status=%s order=%s", clip.public_id, status, clip.order.public_id if clip.order else "-")
    return clip


def _place_held(clip: VoiceClip, product: Product, *, reason: str):
    return order_place(
        customer_id=clip.customer_id,
        product=product,
        quantity=preferred_quantity(customer_id=clip.customer_id, product_id=product.pk),
        source=OrderSource.VOICE,
        actor="customer",
        device_serial=clip.device.serial,
        hold_seconds=clip.device.hold_seconds,
        reason=reason,
    ).order


def _pending_order(clip: VoiceClip):
    order = clip.order
    return order if order is not None and order.status == OrderStatus.NEEDS_CONFIRMATION else None


@transaction.atomic
def voice_clip_confirm(*, customer_id: int, public_id) -> VoiceClip:
    """ "Yes, that one": the proposed product is ordered (held, then released as usual)."""
    clip = _own_clip_for_update(customer_id=customer_id, public_id=public_id)
    if clip.status != S.NEEDS_CONFIRMATION or not clip.candidates:
        _awaiting(clip)
        raise DeviceError("nothing_to_confirm", "We found nothing to confirm: choose a product or discard it.", status=409)
    pending = _pending_order(clip)
    if pending is not None:
        return _resolve(clip, status=S.CONFIRMED, order=order_approve(customer_id=customer_id, public_id=pending.public_id))
    product = Product.objects.get(sku=clip.candidates[0]["sku"])
    return _resolve(clip, status=S.CONFIRMED, order=_place_held(clip, product, reason=f"voice {clip.event_id} confirmed"))


@transaction.atomic
def voice_clip_choose(*, customer_id: int, public_id, sku: str) -> VoiceClip:
    """ "No, this one": any active catalog product; the proposed order, if any, is cancelled."""
    clip = _own_clip_for_update(customer_id=customer_id, public_id=public_id)
    _awaiting(clip)
    product = Product.objects.filter(sku=sku, active=True).first()
    if product is None:
        raise DeviceError("unknown_product", f"No product with SKU {sku!r} in the catalog.", fields={"sku": ["Unknown SKU."]})
    pending = _pending_order(clip)
    if pending is not None and pending.product_id == product.pk:
        return _resolve(clip, status=S.CHOSEN, order=order_approve(customer_id=customer_id, public_id=pending.public_id))
    if pending is not None:
        order_cancel(order_id=pending.pk, actor="customer", reason=f"customer chose {product.sku} instead")
    return _resolve(clip, status=S.CHOSEN, order=_place_held(clip, product, reason=f"voice {clip.event_id}: customer chose {product.sku}"))


@transaction.atomic
def voice_clip_discard(*, customer_id: int, public_id) -> VoiceClip:
    """ "Neither": nothing is ordered; the proposed order, if any, is cancelled."""
    clip = _own_clip_for_update(customer_id=customer_id, public_id=public_id)
    _awaiting(clip)
    pending = _pending_order(clip)
    if pending is not None:
        order_cancel(order_id=pending.pk, actor="customer", reason="spoken order discarded")
    return _resolve(clip, status=S.DISCARDED)


# --- Retention -------------------------------------------------------------------------


def voice_clips_prune(*, now: datetime | None = None, batch: int = 500) -> int:
    """Delete clips (file and row) older than DASH_VOICE_RETENTION_DAYS. A proposal nobody
    answered in that time is cancelled with it."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.DASH_VOICE_RETENTION_DAYS)
    deleted = 0
    while True:
        with transaction.atomic():
            clips = list(
                VoiceClip.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("order")
                .filter(received_at__lt=cutoff)[:batch]
            )
            if not clips:
                return deleted
            for clip in clips:
                pending = _pending_order(clip)
                if pending is not None:
                    order_cancel(order_id=pending.pk, actor="system", reason="spoken order never confirmed")
                if clip.audio_name:
                    voice_clip_storage().delete(clip.audio_name)
            VoiceClip.objects.filter(pk__in=[c.pk for c in clips]).delete()
            deleted += len(clips)
            log.info("voice_clips_pruned count=%s", len(clips))
