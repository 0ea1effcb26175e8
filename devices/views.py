"""The customer's devices page: claim by code, bind a button, pause, unlink (plain forms)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devices import abuse, selectors, services
from devices.models import Device
from partners.models import Product


class ClaimForm(forms.Form):
    claim_code = forms.CharField(max_length=40, label="Claim code", help_text="Printed on the device's label, e.g. 7K2M-9QXD-...")
    name = forms.CharField(max_length=80, required=False, label="Name (optional)")
    product_sku = forms.ModelChoiceField(
        queryset=Product.objects.filter(active=True), required=False, to_field_name="sku", label="Product (buttons)"
    )
    quantity = forms.IntegerField(min_value=1, max_value=99, initial=1)


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
    devices = selectors.devices_for_customer(customer_id=request.user.pk)
    return render(request, "devices/list.html", {"devices": devices, "form": form})


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
