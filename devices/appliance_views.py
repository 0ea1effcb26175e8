"""Plain-form pages for appliance slots: add, change, remove, and the one-click order of a
"running low" notice (GET shows what will be ordered; POST with CSRF places it)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from devices import appliances
from devices.services import DeviceError


class SlotForm(forms.Form):
    capacity = forms.FloatField(min_value=0.001, max_value=appliances.MAX_LEVEL)
    reorder_threshold = forms.FloatField(min_value=0, max_value=appliances.MAX_LEVEL)
    product_sku = forms.CharField(max_length=40, required=False)
    quantity = forms.IntegerField(min_value=1, max_value=99, initial=1)
    auto_reorder = forms.BooleanField(required=False)


class NewSlotForm(SlotForm):
    name = forms.RegexField(r"^[a-z0-9_-]{1,32}$", max_length=32, error_messages={"invalid": "1-32 characters of a-z 0-9 _ -"})


def _errors(form) -> str:
    return "; ".join(f"{field}: {' '.join(errs)}" if field != "__all__" else " ".join(errs) for field, errs in form.errors.items())


@login_required
@require_POST
def slot_add(request, serial):
    form = NewSlotForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The slot was not added: {_errors(form)}")
        return redirect("devices")
    data = form.cleaned_data
    try:
        slot = appliances.slot_create(
            customer_id=request.user.pk,
            serial=serial,
            product_sku=data["product_sku"] or None,
            **{k: data[k] for k in ("name", "capacity", "reorder_threshold", "quantity", "auto_reorder")},
        )
    except ObjectDoesNotExist:
        raise Http404 from None
    except DeviceError as exc:
        messages.error(request, f"The slot was not added: {exc.detail}")
    else:
        messages.success(request, f"Slot {slot.name} added.")
    return redirect("devices")


@login_required
@require_POST
def slot_change(request, serial, name):
    form = SlotForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Slot {name} was not changed: {_errors(form)}")
        return redirect("devices")
    data = form.cleaned_data
    try:
        appliances.slot_update(
            customer_id=request.user.pk,
            serial=serial,
            name=name,
            product_sku=data["product_sku"] or None,
            **{k: data[k] for k in ("capacity", "reorder_threshold", "quantity", "auto_reorder")},
        )
    except ObjectDoesNotExist:
        raise Http404 from None
    except DeviceError as exc:
        messages.error(request, f"Slot {name} was not changed: {exc.detail}")
    else:
        messages.success(request, f"Slot {name} saved.")
    return redirect("devices")


@login_required
@require_POST
def slot_remove(request, serial, name):
    try:
        appliances.slot_delete(customer_id=request.user.pk, serial=serial, name=name)
    except ObjectDoesNotExist:
        raise Http404 from None
    except DeviceError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Slot {name} removed.")
    return redirect("devices")


@login_required
def slot_order(request, serial, name):
    """The link of a "running low" notice: sign in, see the order, confirm with one POST."""
    try:
        slot = appliances.slot_for_customer(customer_id=request.user.pk, serial=serial, name=name)
    except (ObjectDoesNotExist, DeviceError):
        raise Http404 from None
    if request.method == "POST":
        try:
            result = appliances.slot_order_now(customer_id=request.user.pk, serial=serial, name=name)
        except DeviceError as exc:
            messages.error(request, exc.detail)
            return redirect("devices")
        order = result.order
        if result.created:
            messages.success(request, f"Ordered {order.quantity} × {order.product.name}.")
        else:
            messages.info(request, f"An order for {order.product.name} is already {order.status}; nothing new was ordered.")
        return redirect("orders")
    return render(request, "devices/slot_order.html", {"slot": slot, "device": slot.device, "view": appliances.slot_view(slot)})
