"""The customer's answers to spoken orders, from the orders page (plain forms)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from devices.models import VoiceClip
from devices.services import DeviceError
from devices.voice import selectors, services
from devices.voice.apis import clip_file_response


def _answer(request, action, done) -> object:
    try:
        clip = action()
    except VoiceClip.DoesNotExist:
        raise Http404 from None
    except DeviceError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, done(clip))
    return redirect("orders")


@login_required
@require_GET
def voice_clip_audio(request, public_id):
    try:
        clip = selectors.voice_clip_for_customer(customer_id=request.user.pk, public_id=public_id)
    except VoiceClip.DoesNotExist:
        raise Http404 from None
    return clip_file_response(clip)


def _ordered(clip) -> str:
    return f"Ordered: {clip.order.quantity} × {clip.order.product.name}." if clip.order else "Done."


@login_required
@require_POST
def voice_clip_confirm(request, public_id):
    return _answer(request, lambda: services.voice_clip_confirm(customer_id=request.user.pk, public_id=public_id), _ordered)


@login_required
@require_POST
def voice_clip_choose(request, public_id):
    sku = request.POST.get("sku", "")
    return _answer(request, lambda: services.voice_clip_choose(customer_id=request.user.pk, public_id=public_id, sku=sku), _ordered)


@login_required
@require_POST
def voice_clip_discard(request, public_id):
    return _answer(
        request,
        lambda: services.voice_clip_discard(customer_id=request.user.pk, public_id=public_id),
        lambda clip: "Discarded: nothing was ordered.",
    )
