from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from dash.health import healthz, readyz
from dash.metrics import metrics_view
from devices import apis as device_apis
from devices import appliance_apis
from devices.voice import apis as voice_apis
from orders import apis as order_apis
from orders import views as order_views
from partners import apis as partner_apis

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
    path("me/voice", voice_apis.MyVoiceClipListApi.as_view(), name="my-voice-clips"),
    path("me/voice/<uuid:public_id>/confirm", voice_apis.MyVoiceClipConfirmApi.as_view(), name="my-voice-clip-confirm"),
    path("me/voice/<uuid:public_id>/choose", voice_apis.MyVoiceClipChooseApi.as_view(), name="my-voice-clip-choose"),
    path("me/voice/<uuid:public_id>/discard", voice_apis.MyVoiceClipDiscardApi.as_view(), name="my-voice-clip-discard"),
    path("me/voice/<uuid:public_id>/audio", voice_apis.MyVoiceClipAudioApi.as_view(), name="my-voice-clip-audio"),
    path("partner/figures/totals", partner_apis.PartnerTotalsApi.as_view(), name="partner-totals"),
    path("partner/figures/daily", partner_apis.PartnerDailyApi.as_view(), name="partner-daily"),
    path("partner/figures/heatmap", partner_apis.PartnerHeatmapApi.as_view(), name="partner-heatmap"),
    path("partner/figures/sources", partner_apis.PartnerSourcesApi.as_view(), name="partner-sources"),
    path("partner/figures/products", partner_apis.PartnerProductsApi.as_view(), name="partner-products"),
    path("partner/figures/reorders", partner_apis.PartnerReordersApi.as_view(), name="partner-reorders"),
    path("partner/figures/unmet-demand", partner_apis.PartnerUnmetDemandApi.as_view(), name="partner-unmet-demand"),
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
    path("settings/", order_views.customer_settings_page, name="settings"),
    path("partners/", include("partners.urls")),
]

handler404 = "dash.api_errors.api_not_found"
