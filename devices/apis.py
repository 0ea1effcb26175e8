"""Device API (v1, the contract in ARCHITECTURE.md) and the customer's device API."""

import logging
import time

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import authentication, exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from dash.metrics import intake_observe
from devices import abuse, selectors, services
from devices.credentials import hash_token
from devices.intake import IntakeError
from devices.models import Device, DeviceKind
from orders.selectors import iso, order_summary, orders_in_progress_for_customer

log = logging.getLogger(__name__)

DEVICE_AUTH_PREFIX = "Device "


def token_from_header(authorization: str) -> str | None:
    """The token of `Authorization: Device <token>`, or None."""
    if authorization.startswith(DEVICE_AUTH_PREFIX):
        return authorization[len(DEVICE_AUTH_PREFIX) :].strip() or None
    return None


def device_token(request) -> str | None:
    return token_from_header(request.META.get("HTTP_AUTHORIZATION", ""))


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Device <token>`; the request's user is the device."""

    def authenticate(self, request):
        token = device_token(request)
        if token is None:
            return None
        device = selectors.device_for_token(token_hash=hash_token(token))
        if device is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked device token.")
        return (device, None)

    def authenticate_header(self, request):
        return "Device"


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    """The schema names the device token, so the device routes document their 401."""

    target_class = "devices.apis.DeviceTokenAuthentication"
    name = "deviceToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Device <token>`: the device's token."}


class IsDevice(IsAuthenticated):
    def has_permission(self, request, view):
        return isinstance(request.user, Device)


# --- Serializers: they document the contract (and validate the slow-path endpoints) -------


class ErrorSerializer(serializers.Serializer):
    error = inline_serializer("ErrorBody", {"code": serializers.CharField(), "detail": serializers.CharField(), "fields": serializers.DictField()})


class OrderSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    product = inline_serializer("OrderProduct", {"sku": serializers.CharField(), "name": serializers.CharField()})
    quantity = serializers.IntegerField()
    hold_until = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()


class DeviceEventInputSerializer(serializers.Serializer):
    event_id = serializers.RegexField(r"^[A-Za-z0-9._:-]{1,64}$")
    type = serializers.ChoiceField(choices=["press", "scan", "slot_status", "voice"])
    occurred_at = serializers.DateTimeField(required=False)


class DeviceEventAnswerSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["order_placed", "order_in_progress", "needs_confirmation", "processing", "recorded", "unknown_product", "device_unclaimed", "device_paused"]
    )
    detail = serializers.CharField()
    order = OrderSummarySerializer(allow_null=True)
    prediction = inline_serializer(
        "SlotStatusPrediction",
        {
            "remaining": serializers.FloatField(),
            "rate_per_day": serializers.FloatField(allow_null=True),
            "run_out_at": serializers.DateTimeField(allow_null=True),
            "days_left": serializers.FloatField(allow_null=True),
            "cycle_started_at": serializers.DateTimeField(),
            "readings": serializers.IntegerField(),
        },
        required=False,
        allow_null=True,
        help_text="Only in answers to slot_status: the slot's consumption and predicted run-out.",
    )


def _json(status_code: int, body: bytes, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(body, status=status_code, content_type="application/json")
    response["Content-Length"] = str(len(body))  # the device pool runs without CommonMiddleware
    for key, value in (headers or {}).items():
        response[key] = value
    return response


class DeviceEventCreateApi(APIView):
    """Record one device event. The hot path: DRF is bypassed in `dispatch` (no Request
    wrapping, negotiation or serializer) so the device API keeps its throughput; the
    serializers above still document the contract in the OpenAPI schema."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="device_event_create",
        request=DeviceEventInputSerializer,
        parameters=[OpenApiParameter("Authorization", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True, description="Device <token>")],
        responses={
            200: DeviceEventAnswerSerializer,
            201: DeviceEventAnswerSerializer,
            202: DeviceEventAnswerSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            409: DeviceEventAnswerSerializer,
            413: ErrorSerializer,
            415: ErrorSerializer,
            422: OpenApiResponse(
                # an answer (unknown_product) or an error (event_id_reused, ...): both shapes
                PolymorphicProxySerializer("DeviceEventUnprocessable", serializers=[DeviceEventAnswerSerializer, ErrorSerializer], resource_type_field_name=None),
                description="unknown_product, or an error: event_id_reused, type_not_supported, unknown_slot",
            ),
            429: ErrorSerializer,
            503: OpenApiResponse(ErrorSerializer, description="unavailable: the database is out of reach; retry the same event_id after Retry-After"),
        },
        tags=["device"],
    )
    def post(self, request):  # pragma: no cover - served by dispatch below
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        if request.method != "POST":
            return _json(405, IntakeError(405, "method_not_allowed", "Use POST.").body(), {"Allow": "POST"})
        if request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data"):
            from devices.voice.apis import voice_intake_answer  # voice: off the press path

            answer = voice_intake_answer(request)
            return _json(answer.status, answer.body, answer.headers)
        answer = intake_answer(
            authorization=request.META.get("HTTP_AUTHORIZATION", ""), raw=request.body, content_type=request.META.get("CONTENT_TYPE", "")
        )
        return _json(answer.status, answer.body, answer.headers)


UNAVAILABLE = IntakeError(503, "unavailable", "The service is briefly unavailable; retry with the same event_id.", headers={"Retry-After": "1"})


def intake_answer(*, authorization: str, raw: bytes, content_type: str) -> services.IntakeAnswer:
    """The answer to one device event, errors included: shared by the view above and the
    device pool's direct route (dash.wsgi). Counted for /metrics (one inc, one observe)."""
    started = time.perf_counter()
    answer = _intake_answer(authorization=authorization, raw=raw, content_type=content_type)
    intake_observe(started=started, status=answer.status, body=answer.body)
    return answer


def _intake_answer(*, authorization: str, raw: bytes, content_type: str) -> services.IntakeAnswer:
    try:
        return services.device_event_ingest(token=token_from_header(authorization), raw=raw, content_type=content_type)
    except IntakeError as exc:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Device"
        return services.IntakeAnswer(status=exc.status, body=exc.body(), headers=headers)
    except (OperationalError, InterfaceError) as exc:
        # PostgreSQL is restarting or out of reach. An answer is sent only after its event is
        # committed, so the device retries the same event_id and gets exactly one effect.
        log.warning("device_event_unavailable error=%s", exc.__class__.__name__)
        return services.IntakeAnswer(status=503, body=UNAVAILABLE.body(), headers=dict(UNAVAILABLE.headers))
    except Exception:
        # Devices parse JSON, never a debug page. Nothing was acknowledged, so the device
        # retries the same event id and gets one effect.
        log.exception("device_event_failed")
        body = IntakeError(500, "internal_error", "Something went wrong; retry with the same event_id.").body()
        return services.IntakeAnswer(status=500, body=body)


class DeviceEventDetailApi(APIView):
    """The stored answer to an event (for voice, the outcome once it is known)."""

    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [IsDevice]

    @extend_schema(operation_id="device_event_detail", responses={200: DeviceEventAnswerSerializer, 404: ErrorSerializer}, tags=["device"])
    def get(self, request, event_id: str):
        from devices.voice.selectors import voice_outcome  # a voice event's outcome, once settled

        outcome = voice_outcome(device_id=request.user.pk, event_id=event_id)
        if outcome is not None:
            return _json(200, outcome)
        stored = selectors.stored_answer(device_id=request.user.pk, event_id=event_id)
        if stored is None:
            raise exceptions.NotFound()
        return _json(200, stored.body)


class DeviceOrdersApi(APIView):
    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [IsDevice]

    @extend_schema(
        operation_id="device_orders",
        responses={200: inline_serializer("DeviceOrders", {"orders": OrderSummarySerializer(many=True)})},
        tags=["device"],
    )
    def get(self, request):
        device = request.user
        if device.customer_id is None:
            return Response({"orders": []})
        return Response({"orders": [order_summary(o) for o in orders_in_progress_for_customer(customer_id=device.customer_id)]})


class DeviceHeartbeatApi(APIView):
    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [IsDevice]

    class InputSerializer(serializers.Serializer):
        battery = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
        firmware = serializers.CharField(max_length=40, required=False, allow_blank=True)

    @extend_schema(
        operation_id="device_heartbeat",
        request=InputSerializer,
        responses={200: inline_serializer("HeartbeatAnswer", {"status": serializers.CharField(), "server_time": serializers.DateTimeField()})},
        tags=["device"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device = services.device_heartbeat(device=request.user, battery=data.validated_data.get("battery"), firmware=data.validated_data.get("firmware"))
        return Response({"status": "ok", "server_time": iso(device.last_seen_at)})


# --- The customer's devices ------------------------------------------------------------


class CustomerDeviceSerializer(serializers.Serializer):
    serial = serializers.CharField()
    kind = serializers.ChoiceField(choices=DeviceKind.choices)
    name = serializers.CharField()
    paused = serializers.BooleanField()
    product = serializers.SerializerMethodField()
    quantity = serializers.IntegerField()
    hold_seconds = serializers.IntegerField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    battery_percent = serializers.IntegerField(allow_null=True)

    def get_product(self, device) -> dict | None:
        if device.product is None:
            return None
        return {"sku": device.product.sku, "name": device.product.name, "price": str(device.product.price)}


class MyDeviceListApi(APIView):
    @extend_schema(operation_id="my_devices", responses={200: CustomerDeviceSerializer(many=True)}, tags=["customer"])
    def get(self, request):
        return Response(CustomerDeviceSerializer(selectors.devices_for_customer(customer_id=request.user.pk), many=True).data)


class MyDeviceClaimApi(APIView):
    class InputSerializer(serializers.Serializer):
        claim_code = serializers.CharField(max_length=40)
        product_sku = serializers.CharField(max_length=40, required=False)
        quantity = serializers.IntegerField(min_value=1, max_value=99, default=1)
        name = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
        hold_seconds = serializers.IntegerField(min_value=0, max_value=7 * 24 * 3600, required=False, allow_null=True, default=None)

    @extend_schema(operation_id="my_device_claim", request=InputSerializer, responses={201: CustomerDeviceSerializer, 400: ErrorSerializer, 409: ErrorSerializer, 429: ErrorSerializer}, tags=["customer"])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device = abuse.device_claim_guarded(ip=abuse.client_ip(request), customer_id=request.user.pk, **data.validated_data)
        return Response(CustomerDeviceSerializer(device).data, status=status.HTTP_201_CREATED)


class MyDeviceDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        product_sku = serializers.CharField(max_length=40, required=False)
        quantity = serializers.IntegerField(min_value=1, max_value=99, required=False)
        name = serializers.CharField(max_length=80, required=False, allow_blank=True)
        hold_seconds = serializers.IntegerField(min_value=0, max_value=7 * 24 * 3600, required=False, allow_null=True)

    @extend_schema(operation_id="my_device_detail", responses={200: CustomerDeviceSerializer, 404: ErrorSerializer}, tags=["customer"])
    def get(self, request, serial: str):
        return Response(CustomerDeviceSerializer(selectors.device_for_customer(customer_id=request.user.pk, serial=serial)).data)

    @extend_schema(operation_id="my_device_update", request=InputSerializer, responses={200: CustomerDeviceSerializer, 400: ErrorSerializer, 404: ErrorSerializer}, tags=["customer"])
    def patch(self, request, serial: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device = services.device_update(customer_id=request.user.pk, serial=serial, **data.validated_data)
        return Response(CustomerDeviceSerializer(device).data)

    @extend_schema(operation_id="my_device_unlink", responses={204: None, 404: ErrorSerializer}, tags=["customer"])
    def delete(self, request, serial: str):
        services.device_unlink(customer_id=request.user.pk, serial=serial)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyDevicePauseApi(APIView):
    paused = True

    @extend_schema(request=None, responses={200: CustomerDeviceSerializer, 404: ErrorSerializer}, tags=["customer"])
    def post(self, request, serial: str):
        device = services.device_set_paused(customer_id=request.user.pk, serial=serial, paused=self.paused)
        return Response(CustomerDeviceSerializer(device).data)


class MyDeviceUnpauseApi(MyDevicePauseApi):
    paused = False
