from django.urls import path

from devices import appliance_views, views

urlpatterns = [
    path("", views.device_list, name="devices"),
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
