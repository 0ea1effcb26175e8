"""The voice upload (multipart at POST /api/v1/device/events) and the customer's voice API."""

import logging

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import FileResponse
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.intake import IntakeError
from devices.models import voice_clip_storage
from devices.services import IntakeAnswer
from devices.voice import audio as clip_audio
from devices.voice import selectors, services

log = logging.getLogger(__name__)

# The form's fields and the multipart framing around a clip at the size limit.
MAX_MULTIPART_BYTES = clip_audio.MAX_CLIP_BYTES + 16 * 1024


def _too_large() -> IntakeError:
    detail = f"A voice clip is at most {clip_audio.MAX_CLIP_BYTES // 1024 // 1024} MiB."
    return IntakeError(413, "payload_too_large", detail, fields={"audio": [detail]})


def voice_intake_answer(request) -> IntakeAnswer:
    """Answer a multipart voice event; errors in the device API's shape."""
    from devices.apis import token_from_header

    try:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_MULTIPART_BYTES:
            raise _too_large()  # refused before the body is read
        try:
            fields = {key: request.POST.get(key) for key in request.POST}
            upload = request.FILES.get("audio")
        except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent):
            raise IntakeError(400, "malformed", "The multipart body could not be read.") from None
        audio = None
        if upload is not None:
            if upload.size > clip_audio.MAX_CLIP_BYTES:
                raise _too_large()
            audio = upload.read()
        return services.voice_event_ingest(token=token_from_header(request.META.get("HTTP_AUTHORIZATION", "")), fields=fields, audio=audio)
    except IntakeError as exc:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Device"
        return IntakeAnswer(status=exc.status, body=exc.body(), headers=headers)
    except Exception:
        log.exception("voice_event_failed")
        body = IntakeError(500, "internal_error", "Something went wrong; retry with the same event_id.").body()
        return IntakeAnswer(status=500, body=body)


class VoiceClipSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    transcript = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    candidates = serializers.ListField(child=serializers.DictField())
    order = serializers.SerializerMethodField()
    device_serial = serializers.CharField(source="device.serial")
    received_at = serializers.DateTimeField()
    audio_url = serializers.SerializerMethodField()

    def get_order(self, clip) -> str | None:
        return str(clip.order.public_id) if clip.order_id else None

    def get_audio_url(self, clip) -> str:
        return f"/api/v1/me/voice/{clip.public_id}/audio"


class MyVoiceClipListApi(APIView):
    @extend_schema(operation_id="my_voice_clips", responses={200: VoiceClipSerializer(many=True)}, tags=["customer"])
    def get(self, request):
        """Spoken orders waiting for the customer: uncertain matches and unknown products."""
        clips = selectors.voice_clips_awaiting_customer(customer_id=request.user.pk)
        return Response(VoiceClipSerializer(clips, many=True).data)


class MyVoiceClipConfirmApi(APIView):
    @extend_schema(operation_id="my_voice_clip_confirm", request=None, responses={200: VoiceClipSerializer}, tags=["customer"])
    def post(self, request, public_id):
        clip = services.voice_clip_confirm(customer_id=request.user.pk, public_id=public_id)
        return Response(VoiceClipSerializer(clip).data)


class MyVoiceClipChooseApi(APIView):
    class InputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=40)

    @extend_schema(operation_id="my_voice_clip_choose", request=InputSerializer, responses={200: VoiceClipSerializer}, tags=["customer"])
    def post(self, request, public_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        clip = services.voice_clip_choose(customer_id=request.user.pk, public_id=public_id, sku=data.validated_data["sku"])
        return Response(VoiceClipSerializer(clip).data)


class MyVoiceClipDiscardApi(APIView):
    @extend_schema(operation_id="my_voice_clip_discard", request=None, responses={200: VoiceClipSerializer}, tags=["customer"])
    def post(self, request, public_id):
        clip = services.voice_clip_discard(customer_id=request.user.pk, public_id=public_id)
        return Response(VoiceClipSerializer(clip).data)


class MyVoiceClipAudioApi(APIView):
    @extend_schema(operation_id="my_voice_clip_audio", responses={(200, "audio/*"): inline_serializer("Audio", {})}, tags=["customer"])
    def get(self, request, public_id):
        clip = selectors.voice_clip_for_customer(customer_id=request.user.pk, public_id=public_id)
        return clip_file_response(clip)


def clip_file_response(clip) -> FileResponse:
    """The clip's bytes, streamed from its storage (local or S3): never a public URL."""
    from django.http import Http404

    if not clip.audio_name:
        raise Http404
    extension = clip.audio_name.rsplit(".", 1)[-1]
    content_type = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg"}.get(extension, "application/octet-stream")
    response = FileResponse(voice_clip_storage().open(clip.audio_name, "rb"), content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    return response
