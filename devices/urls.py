from django.urls import path

from devices import appliance_views, views
from devices.voice import views as voice_views

urlpatterns = [
    path("", views.device_list, name="devices"),
    path("voice/<uuid:public_id>/audio", voice_views.voice_clip_audio, name="voice-clip-audio"),
    path("voice/<uuid:public_id>/confirm", voice_views.voice_clip_confirm, name="voice-clip-confirm"),
    path("voice/<uuid:public_id>/choose", voice_views.voice_clip_choose, name="voice-clip-choose"),
    path("voice/<uuid:public_id>/discard", voice_views.voice_clip_discard, name="voice-clip-discard"),
    path("<str:serial>/pause", views.device_pause, name="device-pause"),
    path("<str:serial>/unpause", views.device_unpause, name="device-unpause"),
    path("<str:serial>/unlink", views.device_unlink, name="device-unlink"),
    path("<str:serial>/edit", views.device_edit, name="device-edit"),
]

# Appliance slots
urlpatterns += [
    path("<str:serial>/slots", appliance_views.slot_add, name="device-slot-add"),
    path("<str:serial>/slots/<str:name>", appliance_views.slot_change, name="device-slot-change"),
    path("<str:serial>/slots/<str:name>/remove", appliance_views.slot_remove, name="device-slot-remove"),
    path("<str:serial>/slots/<str:name>/order", appliance_views.slot_order, name="device-slot-order"),
]
