"""One error shape for every API: `{"error": {"code", "detail", "fields"}}`."""

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from devices.services import DeviceError
from orders.errors import OrderStateError


def error_response(status_code: int, code: str, detail: str, fields: dict | None = None, headers=None) -> Response:
    return Response({"error": {"code": code, "detail": detail, "fields": fields or {}}}, status=status_code, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return error_response(404, "not_found", "Not found.")
    if isinstance(exc, OrderStateError):
        return error_response(409, exc.code, exc.detail)
    if isinstance(exc, DeviceError):
        return error_response(exc.status, exc.code, exc.detail, exc.fields)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_response(400, "invalid", "The request has invalid fields.", fields, headers=_headers(response))
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.NotAuthenticated):
        code = "unauthorized"
    detail = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    return error_response(response.status_code or status.HTTP_400_BAD_REQUEST, code, detail, headers=_headers(response))


def _headers(response):
    return {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}
