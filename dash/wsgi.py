"""WSGI entry point: the device API's serving pool (gunicorn sync workers) in production."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dash.settings")
application = get_wsgi_application()
