"""The customer's order API (browser session or allauth app token) and the shop's callbacks."""

import orjson
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.commerce import signing
from orders.errors import OrderStateError
from orders.facts import filtered_requests
from orders.models import Order, OrderStatus


class OrderEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField()


class CustomerOrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField()
    product = serializers.SerializerMethodField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    source = serializers.CharField()
    device_serial = serializers.CharField()
    hold_until = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    timeline = OrderEventSerializer(source="events.all", many=True)
    filtered_presses = serializers.SerializerMethodField(help_text="Presses (or scans) that placed nothing because this order was in progress.")

    def get_product(self, order) -> dict:
        return {"sku": order.product.sku, "name": order.product.name}

    def get_filtered_presses(self, order) -> int:
        return self.context.get("filtered", {}).get(order.pk, 0)


def _order_data(request, orders, *, many: bool = False):
    """The serialized order(s), with the filtered-press counts in one query for the lot."""
    orders = list(orders) if many else [orders]
    filtered = filtered_requests(customer_id=request.user.pk, order_ids=[o.pk for o in orders])
    data = CustomerOrderSerializer(orders, many=True, context={"filtered": filtered}).data
    return data if many else data[0]


class ErrorSerializer(serializers.Serializer):
    error = inline_serializer("OrderErrorBody", {"code": serializers.CharField(), "detail": serializers.CharField(), "fields": serializers.DictField()})


class MyOrderListApi(APIView):
    @extend_schema(
        operation_id="my_orders",
        parameters=[OpenApiParameter("status", str, enum=["in_progress", "all"], description="Default: all (newest first, at most 200).")],
        responses={200: CustomerOrderSerializer(many=True)},
        tags=["customer"],
    )
    def get(self, request):
        if request.query_params.get("status") == "in_progress":
            orders = selectors.orders_in_progress_for_customer(customer_id=request.user.pk).prefetch_related("events")
        else:
            orders = selectors.orders_for_customer(customer_id=request.user.pk)[:200]
        return Response(_order_data(request, orders, many=True))


class MyOrderDetailApi(APIView):
    @extend_schema(operation_id="my_order_detail", responses={200: CustomerOrderSerializer, 404: ErrorSerializer}, tags=["customer"])
    def get(self, request, public_id):
        return Response(_order_data(request, selectors.order_for_customer(customer_id=request.user.pk, public_id=public_id)))


class MyOrderApproveApi(APIView):
    @extend_schema(operation_id="my_order_approve", request=None, responses={200: CustomerOrderSerializer, 404: ErrorSerializer, 409: ErrorSerializer}, tags=["customer"])
    def post(self, request, public_id):
        order = services.order_approve(customer_id=request.user.pk, public_id=public_id)
        return Response(_order_data(request, order))


class MyOrderCancelApi(APIView):
    @extend_schema(operation_id="my_order_cancel", request=None, responses={200: CustomerOrderSerializer, 404: ErrorSerializer, 409: ErrorSerializer}, tags=["customer"])
    def post(self, request, public_id):
        order = services.order_cancel_by_customer(customer_id=request.user.pk, public_id=public_id)
        return Response(_order_data(request, order))


class CommerceEventApi(APIView):
    """Status callbacks from the shop, signed like our requests (see orders/commerce/signing.py)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        order_id = serializers.UUIDField()
        status = serializers.ChoiceField(choices=[OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED])
        note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="commerce_event",
        request=InputSerializer,
        responses={200: inline_serializer("CommerceEventAnswer", {"order_id": serializers.UUIDField(), "status": serializers.CharField()}), 400: ErrorSerializer, 401: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        tags=["commerce"],
    )
    def post(self, request):
        raw = request.body
        ok = signing.verify(
            settings.DASH_COMMERCE_SECRET, raw, request.headers.get(signing.TIMESTAMP_HEADER), request.headers.get(signing.SIGNATURE_HEADER)
        )
        if not ok:
            return Response({"error": {"code": "bad_signature", "detail": "Missing, stale or wrong signature.", "fields": {}}}, status=401)
        try:
            data = self.InputSerializer(data=orjson.loads(raw))
        except orjson.JSONDecodeError:
            return Response({"error": {"code": "malformed", "detail": "The body is not valid JSON.", "fields": {}}}, status=400)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if not Order.objects.filter(public_id=values["order_id"]).exists():
            return Response({"error": {"code": "not_found", "detail": "No such order.", "fields": {}}}, status=404)
        try:
            order = services.order_apply_commerce_status(public_id=values["order_id"], status=values["status"], reason=values["note"] or "")
        except OrderStateError as exc:
            return Response({"error": {"code": exc.code, "detail": exc.detail, "fields": {}}}, status=409)
        return Response({"order_id": str(order.public_id), "status": order.status})
