"""The partner portal: figures for one partner's products (staff may switch partners).

Every URL names a partner by slug; a partner the user may not see answers 404, exactly like one
that does not exist, and so does a product of another partner."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from partners import selectors, services
from partners.analytics import charts
from partners.analytics import selectors as figures_selectors
from partners.analytics.feeds import METRICS
from partners.analytics.figures import METRIC_TITLES, TABLE_NAMES, RangeError, date_range, scope_for, table
from partners.models import Partner, PartnerApiToken, Product

TREND_METRICS = ("presses", "placed", "filtered", "cancelled", "delivered", "failed")


def _partner_or_404(request, slug: str) -> Partner:
    partner = selectors.partner_for_user(user=request.user, slug=slug)
    if partner is None:
        raise Http404("No such partner.")
    return partner


def _product_or_404(partner: Partner, sku: str | None) -> Product | None:
    if not sku:
        return None
    product = Product.objects.filter(partner=partner, sku=sku).first()
    if product is None:
        raise Http404("No such product.")
    return product


@login_required
def partner_index(request):
    partners = selectors.partners_for_user(user=request.user)
    if not partners:
        raise Http404("You are not a member of any partner.")
    wanted = request.GET.get("p")
    if wanted:
        # The partner switcher; a slug this user may not see is a 404 like any other.
        return redirect("partner-overview", slug=_partner_or_404(request, wanted).slug)
    if len(partners) == 1:
        return redirect("partner-overview", slug=partners[0].slug)
    return render(request, "partners/index.html", {"partners": partners})


@login_required
def partner_overview(request, slug: str, sku: str | None = None):
    partner = _partner_or_404(request, slug)
    product = _product_or_404(partner, sku)
    try:
        start, end = date_range(start=request.GET.get("start"), end=request.GET.get("end"))
        error = None
    except RangeError as exc:
        error = exc.message
        start, end = date_range(start=None, end=None)
    scope = scope_for(partner=partner, product=product, start=start, end=end)
    totals = figures_selectors.totals(scope=scope)
    daily = figures_selectors.daily(scope=scope)
    heatmap = figures_selectors.heatmap(scope=scope)
    peak = max([v for row in heatmap for v in row["hours"] if v] or [0])
    reorders = figures_selectors.reorders(scope=scope)
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    context = {
        "partner": partner,
        "partners": selectors.partners_for_user(user=request.user),
        "product": product,
        "role": selectors.partner_role(user=request.user, partner=partner),
        "start": start,
        "end": end,
        "error": error,
        "query": query,
        "threshold": figures_selectors.privacy_threshold(),
        "cards": [{"title": METRIC_TITLES[m], "value": totals[m]} for m in METRICS if m != "paused"]
        + [{"title": "Customers", "value": totals["customers"]}, {"title": "Active devices", "value": totals["active_devices"]}],
        "trend": charts.line_chart(
            days=[row["day"] for row in daily],
            series=[(METRIC_TITLES[m], [row[m] for row in daily]) for m in TREND_METRICS],
            title="Daily figures",
        ),
        "legend": [(METRIC_TITLES[m], charts.PALETTE[i]) for i, m in enumerate(TREND_METRICS)],
        "heatmap": [
            {"name": row["name"], "cells": [(v, charts.heat_alpha(v, peak), bool(v and v > peak * 0.55)) for v in row["hours"]]}
            for row in heatmap
        ],
        "hours": range(24),
        "sources": figures_selectors.by_source(scope=scope),
        "products": [] if product else [{**row, "values": [row[m] for m in METRICS]} for row in figures_selectors.by_product(scope=scope)],
        "reorders": reorders,
        "reorder_chart": charts.bar_chart(
            bars=[(b["bucket"], b["reorders"]) for b in reorders["buckets"]], title="Time between reorders", width=420
        ),
        "unmet": figures_selectors.unmet_demand(partner=partner, start=start, end=end),
        "metrics": [(m, METRIC_TITLES[m]) for m in METRICS],
        "exports": TABLE_NAMES,
        "export_product": f"&product={product.sku}" if product else "",
    }
    return render(request, "partners/overview.html", context, status=400 if error else 200)


@login_required
def partner_export(request, slug: str, name: str):
    partner = _partner_or_404(request, slug)
    if name not in TABLE_NAMES:
        raise Http404("No such table.")
    product = _product_or_404(partner, request.GET.get("product"))
    try:
        start, end = date_range(start=request.GET.get("start"), end=request.GET.get("end"))
    except RangeError as exc:
        return HttpResponse(exc.message + "\n", status=400, content_type="text/plain; charset=utf-8")
    result = table(name, scope=scope_for(partner=partner, product=product, start=start, end=end))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    scope_name = product.sku if product else partner.slug
    response["Content-Disposition"] = f'attachment; filename="{scope_name}-{name}-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["suppressed" if row.get(c, "") is None else row.get(c, "") for c in result.columns])
    return response


def _admin_or_404(request, partner: Partner) -> None:
    if selectors.partner_role(user=request.user, partner=partner) != "admin":
        raise Http404("Only a partner's admins manage its API tokens.")


@login_required
def partner_tokens(request, slug: str):
    partner = _partner_or_404(request, slug)
    _admin_or_404(request, partner)
    issued = None
    status = 200
    if request.method == "POST":
        try:
            issued = services.partner_api_token_issue(partner=partner, user=request.user, name=request.POST.get("name", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
    return render(
        request,
        "partners/tokens.html",
        {
            "partner": partner,
            "partners": selectors.partners_for_user(user=request.user),
            "role": "admin",
            "tokens": selectors.partner_api_tokens(partner=partner),
            "issued": issued,
            "api_base": request.build_absolute_uri("/api/v1/partner/"),
        },
        status=status,
    )


@login_required
@require_POST
def partner_token_revoke(request, slug: str, token_id: int):
    partner = _partner_or_404(request, slug)
    _admin_or_404(request, partner)
    try:
        token = services.partner_api_token_revoke(partner=partner, token_id=token_id, user=request.user)
    except PartnerApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.success(request, f"Revoked the token {token.name!r}.")
    return redirect(reverse("partner-tokens", kwargs={"slug": partner.slug}))
