"""The customer's pages: the orders page (their home) and their settings.

Approve and Remove are plain POST forms that work without JavaScript; static/js/orders-live.js
adds the live updates and sends the same actions through the customer API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from orders import selectors, services
from orders.errors import OrderStateError, SettingsError
from orders.facts import filtered_requests
from orders.forms import CustomerSettingsForm
from orders.models import IN_PROGRESS, Order, OrderSource, OrderStatus

# How many orders the page shows (the API's list returns up to 200; the page keeps the newest).
PAGE_ORDERS = 100
WAITING = (OrderStatus.HELD, OrderStatus.NEEDS_CONFIRMATION)


def render_in_customer_zone(request, template: str, context: dict):
    """Render with times in the customer's own time zone (their settings)."""
    zone = selectors.customer_settings(customer_id=request.user.pk).time_zone
    with timezone.override(zone):
        response = render(request, template, {**context, "customer_time_zone": zone})
    return response


@login_required
def order_list(request):
    orders = list(selectors.orders_for_customer(customer_id=request.user.pk)[:PAGE_ORDERS])
    filtered = filtered_requests(customer_id=request.user.pk, order_ids=[o.pk for o in orders])
    for order in orders:
        order.filtered_presses = filtered.get(order.pk, 0)
    return render_in_customer_zone(
        request,
        "orders/list.html",
        {
            "held": [o for o in orders if o.status in WAITING],
            "on_the_way": [o for o in orders if o.status in IN_PROGRESS and o.status not in WAITING],
            "history": [o for o in orders if o.status not in IN_PROGRESS],
            "page_orders": PAGE_ORDERS,
            "status_labels": {"status": dict(OrderStatus.choices), "source": dict(OrderSource.choices)},
        },
    )


def _act(request, public_id, action, done: str):
    try:
        action(customer_id=request.user.pk, public_id=public_id)
        messages.success(request, done)
    except Order.DoesNotExist:
        raise Http404 from None
    except OrderStateError as exc:
        messages.error(request, exc.detail)
    return redirect("orders")


@login_required
@require_POST
def order_approve(request, public_id):
    return _act(request, public_id, services.order_approve, "Approved: the order is on its way to the shop.")


@login_required
@require_POST
def order_cancel(request, public_id):
    return _act(request, public_id, services.order_cancel_by_customer, "Removed: no order will be placed.")


@login_required
def customer_settings_page(request):
    current = selectors.customer_settings(customer_id=request.user.pk)
    form = CustomerSettingsForm(request.POST or None, current=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_settings_update(customer_id=request.user.pk, **form.cleaned_data)
        except SettingsError as exc:
            for field, errors in exc.fields.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, "Your settings are saved.")
            return redirect("settings")
    return render_in_customer_zone(request, "orders/settings.html", {"form": form})
