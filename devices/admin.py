"""The operators' console for devices and the (read-only) device event log."""

from django.contrib import admin, messages

from devices import services
from devices.models import ApplianceSlot, Device, DeviceEvent


@admin.action(description="Pause")
def pause(modeladmin, request, queryset):
    n = services.devices_set_paused_by_operator(device_ids=list(queryset.values_list("pk", flat=True)), paused=True, actor=f"operator:{request.user}")
    modeladmin.message_user(request, f"Paused {n} device(s).")


@admin.action(description="Unpause")
def unpause(modeladmin, request, queryset):
    n = services.devices_set_paused_by_operator(device_ids=list(queryset.values_list("pk", flat=True)), paused=False, actor=f"operator:{request.user}")
    modeladmin.message_user(request, f"Unpaused {n} device(s).")


@admin.action(description="Revoke token (the device stops being accepted at once)")
def revoke_token(modeladmin, request, queryset):
    for device in queryset:
        services.device_revoke_token(device_id=device.pk, actor=f"operator:{request.user}")
    modeladmin.message_user(request, f"Revoked {queryset.count()} token(s).", messages.WARNING)


@admin.action(description="Issue a new token (shown once)")
def issue_token(modeladmin, request, queryset):
    for device in queryset[:20]:
        issued = services.device_issue_token(device_id=device.pk, actor=f"operator:{request.user}")
        modeladmin.message_user(request, f"{device.serial}: new token {issued.token} — copy it now, it is not shown again.", messages.WARNING)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["serial", "kind", "customer", "name", "product", "paused", "token_revoked_at", "last_seen_at"]
    list_filter = ["kind", "paused", "provisioned_for"]
    search_fields = ["serial", "customer__email", "claim_code"]
    list_select_related = ["customer", "product"]
    actions = [pause, unpause, revoke_token, issue_token]
    readonly_fields = ["serial", "token_hash", "token_revoked_at", "claim_code", "claimed_at", "last_seen_at", "battery_percent", "firmware", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:  # provisioning: the kind and the partner; credentials are generated
            return ["kind", "provisioned_for"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # Provisioning is the service's: the form's unsaved device becomes the one it created.
        provisioned = services.device_provision(kind=obj.kind, partner=obj.provisioned_for)
        for field in Device._meta.concrete_fields:
            setattr(obj, field.attname, getattr(provisioned.device, field.attname))
        obj._state.adding = False
        self.message_user(
            request,
            f"Provisioned {obj.serial}. Claim code {obj.claim_code}. Token {provisioned.token} — copy it now, it is not shown again.",
            messages.WARNING,
        )


@admin.register(DeviceEvent)
class DeviceEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "device", "event_id", "type", "outcome", "status_code", "order"]
    list_filter = ["outcome", "type"]
    search_fields = ["device__serial", "event_id"]
    list_select_related = ["device", "order"]
    date_hierarchy = "received_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in DeviceEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApplianceSlot)
class ApplianceSlotAdmin(admin.ModelAdmin):
    """Appliance slots, read-only: the customer sets them up; readings change them."""

    list_display = ["device", "name", "product", "remaining", "capacity", "reorder_threshold", "auto_reorder", "last_reading_at", "cycle_started_at"]
    list_filter = ["auto_reorder"]
    search_fields = ["device__serial", "device__customer__email", "name"]
    list_select_related = ["device", "product"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
