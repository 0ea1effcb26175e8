"""The device API pool's routes (see dash.wsgi.device_application)."""

from django.urls import path

from dash.health import healthz
from devices import apis as device_apis

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/device/events", device_apis.DeviceEventCreateApi.as_view(), name="device-event-create"),
    path("api/v1/device/events/<str:event_id>", device_apis.DeviceEventDetailApi.as_view(), name="device-event-detail"),
    path("api/v1/device/orders", device_apis.DeviceOrdersApi.as_view(), name="device-orders"),
    path("api/v1/device/heartbeat", device_apis.DeviceHeartbeatApi.as_view(), name="device-heartbeat"),
]
