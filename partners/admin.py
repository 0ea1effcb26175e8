from django.contrib import admin

from partners.models import Partner, PartnerMembership, Product


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "partner", "gtin", "price", "max_quantity", "active"]
    list_filter = ["partner", "active"]
    search_fields = ["sku", "name", "gtin"]


@admin.register(PartnerMembership)
class PartnerMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "partner", "role"]
    list_filter = ["partner", "role"]
    autocomplete_fields = ["partner"]
