from django.contrib import admin

from partners.models import CustomerTimeZone, Partner, PartnerApiToken, PartnerMembership, Product, RollupWatermark


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


@admin.register(CustomerTimeZone)
class CustomerTimeZoneAdmin(admin.ModelAdmin):
    list_display = ["user", "time_zone"]
    search_fields = ["user__email", "time_zone"]
    raw_id_fields = ["user"]


@admin.register(PartnerApiToken)
class PartnerApiTokenAdmin(admin.ModelAdmin):
    list_display = ["partner", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["partner"]
    readonly_fields = ["prefix", "token_hash", "created_at", "last_used_at"]


@admin.register(RollupWatermark)
class RollupWatermarkAdmin(admin.ModelAdmin):
    list_display = ["feed", "last_id", "updated_at"]
    readonly_fields = ["feed", "last_id", "updated_at"]
