"""WSGI entry points.

- `application`: the whole site (any WSGI server).
- `device_application`: the device API's serving pool (`granian --interface wsgi
  dash.wsgi:device_application`): only the device routes and /healthz. Devices send no cookies
  and need no sessions, CSRF, messages or static files, so the pool runs one middleware, and
  the event intake — nearly all of its traffic — is answered without building a Django
  request at all: that per-request work is a measurable share of an event's cost (`make bench`).
"""

import os
from http import HTTPStatus

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dash.settings")
application = get_wsgi_application()

from devices.apis import intake_answer  # after get_wsgi_application(): needs the apps loaded
from devices.intake import MAX_JSON_BYTES, payload_too_large

DEVICE_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
DEVICE_URLCONF = "dash.urls_device"
INTAKE_PATH = "/api/v1/device/events"


class DeviceAPIHandler(WSGIHandler):
    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = DEVICE_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full

    def resolve_request(self, request):
        request.urlconf = DEVICE_URLCONF
        return super().resolve_request(request)

    def __call__(self, environ, start_response):
        if (
            environ.get("PATH_INFO") == INTAKE_PATH
            and environ.get("REQUEST_METHOD") == "POST"
            and not environ.get("CONTENT_TYPE", "").lower().startswith("multipart/")  # voice: the Django view
        ):
            return self.intake(environ, start_response)
        return super().__call__(environ, start_response)

    def intake(self, environ, start_response):
        """POST /api/v1/device/events, straight to the service (the same answer as the view)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_JSON_BYTES:
            status, headers, body = 413, {}, payload_too_large().body()
        else:
            raw = environ["wsgi.input"].read(length if length else MAX_JSON_BYTES + 1)
            answer = intake_answer(
                authorization=environ.get("HTTP_AUTHORIZATION", ""), raw=raw, content_type=environ.get("CONTENT_TYPE", "")
            )
            status, headers, body = answer.status, answer.headers, answer.body
            if status >= 500:
                close_old_connections()  # drop a connection that broke; the next request reconnects
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"),
                *headers.items(),
            ],
        )
        return [body]


device_application = DeviceAPIHandler()
