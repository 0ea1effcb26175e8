"""The partner API: the portal's figures for the partner a token belongs to.

`Authorization: Bearer <token>` (tokens are issued on the portal's API tokens page and scoped to
one partner). A figure describing fewer than DASH_PRIVACY_MIN_CUSTOMERS customers is null."""

import hashlib

from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import authentication, exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from partners import selectors, services
from partners.analytics import selectors as figures
from partners.analytics.feeds import METRICS
from partners.analytics.figures import RangeError, date_range, scope_for
from partners.models import PartnerApiToken, Product

BEARER = "Bearer "


class PartnerClient:
    """The request's user for a partner token: authenticated, but nobody's account."""

    is_authenticated = True
    is_staff = False

    def __init__(self, token: PartnerApiToken):
        self.token = token


class PartnerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(BEARER):
            return None
        secret = header[len(BEARER) :].strip()
        token = selectors.partner_api_token_by_hash(token_hash=hashlib.sha256(secret.encode()).hexdigest())
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked partner API token.")
        services.partner_api_token_touch(token=token)
        return (PartnerClient(token), token)

    def authenticate_header(self, request):
        return "Bearer"


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "partners.apis.PartnerTokenAuthentication"
    name = "partnerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A partner API token (pt_...), issued on the portal's API tokens page.",
        }


class HasPartnerToken(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, PartnerApiToken)


class FiguresQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (customer-local), default 27 days before end.")
    end = serializers.DateField(required=False, help_text="Last day, inclusive; default today. At most 366 days.")
    product = serializers.CharField(required=False, help_text="A SKU of this partner's: figures for that product only.")


def _nullable_int(**kwargs):
    return serializers.IntegerField(allow_null=True, **kwargs)


_METRIC_FIELDS = {m: _nullable_int(help_text=f"{m}; null when suppressed") for m in METRICS}


class TotalsSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    figures = inline_serializer(
        "PartnerTotals",
        {**_METRIC_FIELDS, "customers": _nullable_int(), "active_devices": _nullable_int()},
    )


class DailySerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    rows = inline_serializer("PartnerDay", {"day": serializers.DateField(), **_METRIC_FIELDS}, many=True)


class HeatmapSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    rows = inline_serializer(
        "PartnerHeatmapRow",
        {
            "weekday": serializers.IntegerField(help_text="ISO weekday, 1 = Monday"),
            "name": serializers.CharField(),
            "hours": serializers.ListField(child=_nullable_int(), help_text="Presses in local hours 0-23"),
        },
        many=True,
    )


class SourcesSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    rows = inline_serializer(
        "PartnerSource", {"source": serializers.CharField(), "customers": _nullable_int(), **_METRIC_FIELDS}, many=True
    )


class ProductsSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    rows = inline_serializer(
        "PartnerProduct",
        {
            "sku": serializers.CharField(),
            "name": serializers.CharField(),
            "gtin": serializers.CharField(),
            "customers": _nullable_int(),
            **_METRIC_FIELDS,
        },
        many=True,
    )


class ReordersSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    reorders = _nullable_int()
    mean_days = serializers.FloatField(allow_null=True)
    buckets = inline_serializer("PartnerReorderBucket", {"bucket": serializers.CharField(), "reorders": _nullable_int()}, many=True)


class UnmetSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    rows = inline_serializer(
        "PartnerUnmetDemand",
        {
            "kind": serializers.CharField(),
            "gtin": serializers.CharField(),
            "requests": serializers.IntegerField(),
            "customers": serializers.IntegerField(),
        },
        many=True,
    )


_PARAMS = [
    OpenApiParameter("start", str, description="YYYY-MM-DD"),
    OpenApiParameter("end", str, description="YYYY-MM-DD"),
    OpenApiParameter("product", str, description="SKU of one of the partner's products (another partner's: 404)"),
]


class _FiguresApi(APIView):
    authentication_classes = [PartnerTokenAuthentication]
    permission_classes = [HasPartnerToken]

    def _scope(self, request):
        query = FiguresQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        partner = request.auth.partner
        product = None
        if data.get("product"):
            product = Product.objects.filter(partner=partner, sku=data["product"]).first()
            if product is None:
                raise Http404
        try:
            start, end = date_range(
                start=data["start"].isoformat() if data.get("start") else None,
                end=data["end"].isoformat() if data.get("end") else None,
            )
        except RangeError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from None
        return scope_for(partner=partner, product=product, start=start, end=end)

    def get(self, request):
        scope = self._scope(request)
        return Response({"start": scope.start, "end": scope.end, **self.figures(scope)})


_ERROR = inline_serializer(
    "PartnerError",
    {"error": inline_serializer("PartnerErrorBody", {"code": serializers.CharField(), "detail": serializers.CharField(), "fields": serializers.DictField()})},
)


def _doc(serializer, summary):
    not_found = OpenApiResponse(_ERROR, description="`product` is not a SKU of this partner's.")
    return extend_schema(tags=["partner"], parameters=_PARAMS, responses={200: serializer, 404: not_found}, summary=summary)


class PartnerTotalsApi(_FiguresApi):
    @_doc(TotalsSerializer, "Totals over the range")
    def get(self, request):
        return super().get(request)

    def figures(self, scope):
        return {"figures": figures.totals(scope=scope)}


class PartnerDailyApi(_FiguresApi):
    @_doc(DailySerializer, "Figures by day")
    def get(self, request):
        return super().get(request)

    def figures(self, scope):
        return {"rows": figures.daily(scope=scope)}


class PartnerHeatmapApi(_FiguresApi):
    @_doc(HeatmapSerializer, "Presses by weekday x hour (customer-local)")
    def get(self, request):
        return super().get(request)

    def figures(self, scope):
        return {"rows": figures.heatmap(scope=scope)}


class PartnerSourcesApi(_FiguresApi):
    @_doc(SourcesSerializer, "Figures by source (button, scan, voice, appliance, web)")
    def get(self, request):
        return super().get(request)

    def figures(self, scope):
        return {"rows": figures.by_source(scope=scope)}


class PartnerProductsApi(_FiguresApi):
    @_doc(ProductsSerializer, "Figures by product")
    def get(self, request):
        return super().get(request)

    def figures(self, scope):
        return {"rows": figures.by_product(scope=scope)}


class PartnerReordersApi(_FiguresApi):
    @_doc(ReordersSerializer, "Time between a customer's orders of the same product")
    def get(self, request):
        return super().get(request)

    def figures(self, scope):
        return figures.reorders(scope=scope)


class PartnerUnmetDemandApi(_FiguresApi):
    @_doc(UnmetSerializer, "Unknown barcodes near the partner's catalog (rows of 5+ customers)")
    def get(self, request):
        return super().get(request)

    def figures(self, scope):
        return {"rows": figures.unmet_demand(partner=scope.partner, start=scope.start, end=scope.end)}
