from django.urls import path

from orders import views

urlpatterns = [
    path("", views.order_list, name="orders"),
    path("<uuid:public_id>/approve", views.order_approve, name="order-approve"),
    path("<uuid:public_id>/cancel", views.order_cancel, name="order-cancel"),
]
