"""The operators' console for orders: timeline inline, and the actions an operator needs."""

from django.contrib import admin, messages

from orders import services
from orders.errors import OrderStateError
from orders.models import CustomerSettings, Order, OrderEvent


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["at", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _apply(modeladmin, request, queryset, action, verb: str):
    done, refused = 0, []
    for order in queryset:
        try:
            action(order)
            done += 1
        except OrderStateError as exc:
            refused.append(f"{order.public_id}: {exc.detail}")
    if done:
        modeladmin.message_user(request, f"{verb}: {done} order(s).", messages.SUCCESS)
    for line in refused[:20]:
        modeladmin.message_user(request, line, messages.WARNING)


@admin.action(description="Release now (skip the rest of the hold)")
def release_now(modeladmin, request, queryset):
    _apply(modeladmin, request, queryset, lambda o: services.order_release(order_id=o.pk, actor=f"operator:{request.user}", reason="released by operator"), "Released")


@admin.action(description="Cancel")
def cancel(modeladmin, request, queryset):
    allowed = ("needs_confirmation", "held", "failed")
    _apply(modeladmin, request, queryset, lambda o: services.order_cancel(order_id=o.pk, actor=f"operator:{request.user}", reason="cancelled by operator", allowed=allowed), "Cancelled")


@admin.action(description="Retry submission (failed orders)")
def retry_submission(modeladmin, request, queryset):
    _apply(modeladmin, request, queryset, lambda o: services.order_retry_submission(order_id=o.pk, actor=f"operator:{request.user}"), "Retried")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["public_id", "customer", "product", "quantity", "status", "source", "device_serial", "hold_until", "created_at"]
    list_filter = ["status", "source", "product__partner"]
    search_fields = ["customer__email", "device_serial", "=public_id", "commerce_ref"]
    list_select_related = ["customer", "product"]
    date_hierarchy = "created_at"
    actions = [release_now, cancel, retry_submission]
    inlines = [OrderEventInline]
    readonly_fields = [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):
        return False  # orders come from devices and customers, never typed in

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CustomerSettings)
class CustomerSettingsAdmin(admin.ModelAdmin):
    list_display = ("customer", "default_hold_seconds", "email_notices", "time_zone", "updated_at")
    search_fields = ("customer__email",)
    list_filter = ("email_notices",)
    raw_id_fields = ("customer",)
