"""One error shape for every API: `{"error": {"code", "detail", "fields"}}`."""

from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError
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
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is restarting or out of reach: nothing was done; the client may retry.
        return error_response(503, "unavailable", "The service is briefly unavailable; try again.", headers={"Retry-After": "2"})
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


def api_not_found(request, exception=None):
    """handler404: paths under /api/ that match no route get the API's JSON error shape
    (a client parses JSON, never the HTML page); every other path gets the HTML page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "detail": "Not found.", "fields": {}}}, status=404)
    return page_not_found(request, exception)


def schema_auth_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: an operation with path parameters may answer 404 and
    one with query parameters or a body 400; an operation that needs credentials may answer 401
    (no usable credentials of its kind) or 403 (credentials of another kind, e.g. a session on a
    token-only route); say so in the schema, with the error shape."""
    error_ref = {"$ref": "#/components/schemas/AuthError"}
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "detail": {"type": "string"}, "fields": {"type": "object"}},
                "required": ["code", "detail", "fields"],
            }
        },
        "required": ["error"],
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            error = {"content": {"application/json": {"schema": error_ref}}}
            params = operation.get("parameters", [])
            if any(p.get("in") == "path" for p in params):
                operation["responses"].setdefault("404", {"description": "No such object (or not yours).", **error})
            if any(p.get("in") == "query" for p in params) or "requestBody" in operation:
                operation["responses"].setdefault("400", {"description": "Invalid fields.", **error})
            security = operation.get("security", [])
            if security and {} not in security:
                for code, text in (("401", "No usable credentials."), ("403", "Not allowed for these credentials.")):
                    operation["responses"].setdefault(code, {"description": text, "content": {"application/json": {"schema": error_ref}}})
    return result
