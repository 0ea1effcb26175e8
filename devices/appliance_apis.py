"""The customer's appliance slots: /api/v1/me/devices/<serial>/slots[/<name>[/order]].

Session or app-token authenticated (the site's defaults); another customer's device or slot is a 404.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices import appliances
from devices.apis import ErrorSerializer, OrderSummarySerializer
from devices.models import ApplianceSlot
from orders.selectors import order_summary


class SlotSerializer(serializers.Serializer):
    """Documents `appliances.slot_view`."""

    name = serializers.CharField()
    product = inline_serializer(
        "SlotProduct",
        {
            "sku": serializers.CharField(),
            "name": serializers.CharField(),
            "price": serializers.CharField(),
            "delivery_days": serializers.IntegerField(),
        },
        allow_null=True,
    )
    quantity = serializers.IntegerField()
    capacity = serializers.FloatField()
    reorder_threshold = serializers.FloatField()
    auto_reorder = serializers.BooleanField()
    remaining = serializers.FloatField(allow_null=True)
    last_reading_at = serializers.DateTimeField(allow_null=True)
    prediction = inline_serializer(
        "SlotPrediction",
        {
            "remaining": serializers.FloatField(),
            "rate_per_day": serializers.FloatField(allow_null=True),
            "run_out_at": serializers.DateTimeField(allow_null=True),
            "days_left": serializers.FloatField(allow_null=True),
            "cycle_started_at": serializers.DateTimeField(),
            "readings": serializers.IntegerField(),
        },
        allow_null=True,
    )
    cycle_order = inline_serializer("SlotCycleOrder", {"id": serializers.UUIDField(), "status": serializers.CharField()}, allow_null=True)


class _LevelsMixin(serializers.Serializer):
    capacity = serializers.FloatField(min_value=0.001, max_value=appliances.MAX_LEVEL)
    reorder_threshold = serializers.FloatField(min_value=0, max_value=appliances.MAX_LEVEL)
    quantity = serializers.IntegerField(min_value=1, max_value=99)
    auto_reorder = serializers.BooleanField()


class MySlotListApi(APIView):
    class SlotCreateInputSerializer(_LevelsMixin):
        name = serializers.RegexField(r"^[a-z0-9_-]{1,32}$")
        product_sku = serializers.CharField(max_length=40, required=False, allow_null=True, allow_blank=True)
        quantity = serializers.IntegerField(min_value=1, max_value=99, default=1)
        auto_reorder = serializers.BooleanField(default=True)

    @extend_schema(
        operation_id="my_device_slots",
        responses={200: SlotSerializer(many=True), 404: ErrorSerializer, 409: ErrorSerializer},
        tags=["customer"],
    )
    def get(self, request, serial: str):
        device = appliances.appliance_for_customer(customer_id=request.user.pk, serial=serial)
        return Response([appliances.slot_view(slot) for slot in appliances.slots_for_device(device=device)])

    @extend_schema(
        operation_id="my_device_slot_create",
        request=SlotCreateInputSerializer,
        responses={201: SlotSerializer, 400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        tags=["customer"],
    )
    def post(self, request, serial: str):
        data = self.SlotCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        slot = appliances.slot_create(customer_id=request.user.pk, serial=serial, **data.validated_data)
        return Response(appliances.slot_view(slot), status=status.HTTP_201_CREATED)


class MySlotDetailApi(APIView):
    class SlotUpdateInputSerializer(_LevelsMixin):
        product_sku = serializers.CharField(max_length=40, required=False, allow_null=True, allow_blank=True)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name in ("capacity", "reorder_threshold", "quantity", "auto_reorder"):
                self.fields[name].required = False

    def _slot(self, request, serial: str, name: str) -> ApplianceSlot:
        return appliances.slot_for_customer(customer_id=request.user.pk, serial=serial, name=name)

    @extend_schema(operation_id="my_device_slot", responses={200: SlotSerializer, 404: ErrorSerializer}, tags=["customer"])
    def get(self, request, serial: str, name: str):
        return Response(appliances.slot_view(self._slot(request, serial, name)))

    @extend_schema(
        operation_id="my_device_slot_update",
        request=SlotUpdateInputSerializer,
        responses={200: SlotSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
        tags=["customer"],
    )
    def patch(self, request, serial: str, name: str):
        data = self.SlotUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "product_sku" in changes:
            changes["product_sku"] = changes["product_sku"] or None
        appliances.slot_update(customer_id=request.user.pk, serial=serial, name=name, **changes)
        return Response(appliances.slot_view(self._slot(request, serial, name)))

    @extend_schema(operation_id="my_device_slot_delete", responses={204: None, 404: ErrorSerializer}, tags=["customer"])
    def delete(self, request, serial: str, name: str):
        appliances.slot_delete(customer_id=request.user.pk, serial=serial, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MySlotOrderApi(APIView):
    @extend_schema(
        operation_id="my_device_slot_order",
        request=None,
        responses={201: OrderSummarySerializer, 200: OrderSummarySerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        tags=["customer"],
    )
    def post(self, request, serial: str, name: str):
        """Order the slot's product now (the one-click order of a "running low" notice).
        201 with the new order, or 200 with the order already in progress."""
        result = appliances.slot_order_now(customer_id=request.user.pk, serial=serial, name=name)
        return Response(order_summary(result.order), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
