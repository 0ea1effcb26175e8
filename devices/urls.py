from django.urls import path

from devices import views

urlpatterns = [
    path("", views.device_list, name="devices"),
    path("<str:serial>/pause", views.device_pause, name="device-pause"),
    path("<str:serial>/unpause", views.device_unpause, name="device-unpause"),
    path("<str:serial>/unlink", views.device_unlink, name="device-unlink"),
    path("<str:serial>/edit", views.device_edit, name="device-edit"),
]
