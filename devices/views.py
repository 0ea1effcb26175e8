"""The customer's devices page: claim by code, name, bind a button, hold window, pause, unlink
(plain forms: every action is a POST that redirects back)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from devices import abuse, selectors, services
from devices.models import Device, DeviceKind
from orders.forms import HoldWindowField, describe_hold
from orders.selectors import customer_hold_seconds
from orders.views import render_in_customer_zone
from partners.models import Product


class ProductChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, product):
        return f"{product.name} — {product.price} each"


def _products():
    return Product.objects.filter(active=True).only("sku", "name", "price").order_by("name")


class ClaimForm(forms.Form):
    claim_code = forms.CharField(max_length=40, label="Claim code", help_text="Printed on the device's label, e.g. 7K2M-9QXD-...")
    name = forms.CharField(max_length=80, required=False, label="Name (optional)", help_text="Where it is, e.g. Laundry room.")
    product_sku = ProductChoiceField(
        queryset=_products(),
        required=False,
        to_field_name="sku",
        label="Product (buttons)",
        help_text="What a press orders, at its current price.",
    )
    quantity = forms.IntegerField(min_value=1, max_value=99, initial=1)


class DeviceEditForm(forms.Form):
    name = forms.CharField(max_length=80, required=False, label="Name")

    def __init__(self, *args, device: Device, default_hold: int, **kwargs):
        super().__init__(*args, prefix=f"d-{device.serial}", **kwargs)
        if device.kind == DeviceKind.BUTTON:
            self.fields["product_sku"] = ProductChoiceField(queryset=_products(), to_field_name="sku", label="Orders this product")
            self.fields["quantity"] = forms.IntegerField(min_value=1, max_value=99, label="Quantity per press")
        self.fields["hold_seconds"] = HoldWindowField(
            current=device.hold_seconds,
            default_label=f"Your default ({describe_hold(default_hold)})",
            label="Hold window",
            help_text="How long an order from this device waits for you.",
        )
        if not self.is_bound:
            self.initial = {
                "name": device.name,
                "product_sku": device.product.sku if device.product else None,
                "quantity": device.quantity,
                "hold_seconds": "" if device.hold_seconds is None else str(device.hold_seconds),
            }


def _page(request, *, claim_form=None, failed: tuple[str, DeviceEditForm] | None = None):
    devices = list(selectors.devices_for_customer(customer_id=request.user.pk))
    presses = selectors.press_counts_for_customer(customer_id=request.user.pk)
    default_hold = customer_hold_seconds(customer_id=request.user.pk)
    for device in devices:
        device.presses = presses.get(device.pk, 0)
        device.hold_text = (
            describe_hold(device.hold_seconds) if device.hold_seconds is not None else f"your default ({describe_hold(default_hold)})"
        )
        if failed and failed[0] == device.serial:
            device.edit_form = failed[1]
        else:
            device.edit_form = DeviceEditForm(device=device, default_hold=default_hold)
    return render_in_customer_zone(
        request,
        "devices/list.html",
        {"devices": devices, "form": claim_form or ClaimForm(), "retention_hours": selectors.press_count_window_hours()},
    )


@login_required
def device_list(request):
    form = ClaimForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        product = form.cleaned_data["product_sku"]
        try:
            device = abuse.device_claim_guarded(
                ip=abuse.client_ip(request),
                customer_id=request.user.pk,
                claim_code=form.cleaned_data["claim_code"],
                product_sku=product.sku if product else None,
                quantity=form.cleaned_data["quantity"],
                name=form.cleaned_data["name"],
            )
        except services.DeviceError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"{device.name} is linked to your account.")
            return redirect("devices")
    return _page(request, claim_form=form)


@login_required
@require_POST
def device_edit(request, serial):
    try:
        device = selectors.device_for_customer(customer_id=request.user.pk, serial=serial)
    except Device.DoesNotExist:
        raise Http404 from None
    form = DeviceEditForm(request.POST, device=device, default_hold=customer_hold_seconds(customer_id=request.user.pk))
    if form.is_valid():
        data = form.cleaned_data
        product = data.get("product_sku")
        try:
            services.device_update(
                customer_id=request.user.pk,
                serial=serial,
                name=data["name"],
                product_sku=product.sku if product else None,
                quantity=data.get("quantity"),
                hold_seconds=data["hold_seconds"],
            )
        except services.DeviceError as exc:
            for field, errors in exc.fields.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not exc.fields:
                form.add_error(None, exc.detail)
        else:
            messages.success(request, f"{data['name'] or serial} is saved.")
            return redirect("devices")
    response = _page(request, failed=(serial, form))
    response.status_code = 400
    return response


def _own(request, serial, action, done):
    try:
        device = action(customer_id=request.user.pk, serial=serial)
    except Device.DoesNotExist:
        raise Http404 from None
    messages.success(request, done.format(name=device.name or device.serial))
    return redirect("devices")


@login_required
@require_POST
def device_pause(request, serial):
    return _own(request, serial, lambda **kw: services.device_set_paused(paused=True, **kw), "{name} is paused.")


@login_required
@require_POST
def device_unpause(request, serial):
    return _own(request, serial, lambda **kw: services.device_set_paused(paused=False, **kw), "{name} orders again.")


@login_required
@require_POST
def device_unlink(request, serial):
    return _own(request, serial, services.device_unlink, "The device is unlinked.")
