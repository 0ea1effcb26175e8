from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from dash.health import healthz, readyz
from dash.metrics import metrics_view
from devices import apis as device_apis
from devices import appliance_apis
from orders import apis as order_apis

api_v1 = [
    path("device/events", device_apis.DeviceEventCreateApi.as_view(), name="device-event-create"),
    path("device/events/<str:event_id>", device_apis.DeviceEventDetailApi.as_view(), name="device-event-detail"),
    path("device/orders", device_apis.DeviceOrdersApi.as_view(), name="device-orders"),
    path("device/heartbeat", device_apis.DeviceHeartbeatApi.as_view(), name="device-heartbeat"),
    path("me/orders", order_apis.MyOrderListApi.as_view(), name="my-orders"),
    path("me/orders/<uuid:public_id>", order_apis.MyOrderDetailApi.as_view(), name="my-order-detail"),
    path("me/orders/<uuid:public_id>/approve", order_apis.MyOrderApproveApi.as_view(), name="my-order-approve"),
    path("me/orders/<uuid:public_id>/cancel", order_apis.MyOrderCancelApi.as_view(), name="my-order-cancel"),
    path("me/devices", device_apis.MyDeviceListApi.as_view(), name="my-devices"),
    path("me/devices/claim", device_apis.MyDeviceClaimApi.as_view(), name="my-device-claim"),
    path("me/devices/<str:serial>", device_apis.MyDeviceDetailApi.as_view(), name="my-device-detail"),
    path("me/devices/<str:serial>/pause", device_apis.MyDevicePauseApi.as_view(), name="my-device-pause"),
    path("me/devices/<str:serial>/unpause", device_apis.MyDeviceUnpauseApi.as_view(), name="my-device-unpause"),
    path("commerce/events", order_apis.CommerceEventApi.as_view(), name="commerce-events"),
    path("me/devices/<str:serial>/slots", appliance_apis.MySlotListApi.as_view(), name="my-device-slots"),
    path("me/devices/<str:serial>/slots/<str:name>", appliance_apis.MySlotDetailApi.as_view(), name="my-device-slot"),
    path("me/devices/<str:serial>/slots/<str:name>/order", appliance_apis.MySlotOrderApi.as_view(), name="my-device-slot-order"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orders", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("orders/", include("orders.urls")),
    path("devices/", include("devices.urls")),
]
