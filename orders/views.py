"""The customer's orders page (plain forms; the live version comes with issue 3)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from orders import selectors, services
from orders.errors import OrderStateError
from orders.models import IN_PROGRESS, Order


@login_required
def order_list(request):
    orders = list(selectors.orders_for_customer(customer_id=request.user.pk)[:100])
    return render(
        request,
        "orders/list.html",
        {
            "held": [o for o in orders if o.status == "held"],
            "on_the_way": [o for o in orders if o.status in IN_PROGRESS and o.status != "held"],
            "history": [o for o in orders if o.status not in IN_PROGRESS],
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
