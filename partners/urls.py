from django.urls import path

from partners import views

urlpatterns = [
    path("", views.partner_index, name="partners"),
    path("<slug:slug>/", views.partner_overview, name="partner-overview"),
    path("<slug:slug>/products/<str:sku>/", views.partner_overview, name="partner-product"),
    path("<slug:slug>/export/<str:name>.csv", views.partner_export, name="partner-export"),
    path("<slug:slug>/api-tokens/", views.partner_tokens, name="partner-tokens"),
    path("<slug:slug>/api-tokens/<int:token_id>/revoke", views.partner_token_revoke, name="partner-token-revoke"),
]
