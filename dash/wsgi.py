"""WSGI entry points.

- `application`: the whole site (any WSGI server).
- `device_application`: the device API's serving pool (`gunicorn dash.wsgi:device_application
  -k sync`): only the device routes and /healthz, through only the middleware they use.
  Devices send no cookies and need no sessions, CSRF, messages or static files; skipping
  those per request is a measurable share of a device event's cost (see `make bench`).
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dash.settings")
application = get_wsgi_application()

DEVICE_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
DEVICE_URLCONF = "dash.urls_device"


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


device_application = DeviceAPIHandler()
