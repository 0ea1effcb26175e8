from django.urls import path

from devices import views
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
]
