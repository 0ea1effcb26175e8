"""`{% appliance_slots device as slots %}`: an appliance's slots with their predictions, for
templates/devices/_appliance_slots.html (self-contained, so any devices page can include it)."""

from django import template
from django.utils import timezone

from devices import appliances
from devices.models import DeviceKind
from partners.models import Product

register = template.Library()


@register.simple_tag
def appliance_slots(device) -> list[dict]:
    if device.kind != DeviceKind.APPLIANCE:
        return []
    now = timezone.now()
    return [appliances.slot_view(slot, now=now) for slot in appliances.slots_for_device(device=device)]


@register.simple_tag(takes_context=True)
def slot_products(context) -> list[tuple[str, str]]:
    """(sku, label) of the active catalog, read once per page."""
    cached = context.render_context.get("slot_products")
    if cached is None:
        cached = [
            (sku, f"{name} ({price})") for sku, name, price in Product.objects.filter(active=True).values_list("sku", "name", "price")
        ]
        context.render_context["slot_products"] = cached
    return cached
