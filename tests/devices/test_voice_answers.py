"""The customer's answer to a spoken order: Confirm / Choose another / Discard, through the
services, the customer API and the orders page's forms."""

import pytest
from django.core.files.base import ContentFile

from devices.models import VoiceClip, voice_clip_storage
from devices.services import DeviceError
from devices.voice.services import voice_clip_choose, voice_clip_confirm, voice_clip_discard
from orders.models import Order, OrderStatus
from tests.factories import ProductFactory, make_voice_clip, make_wand

S = OrderStatus


@pytest.fixture
def wand(customer):
    return make_wand(customer=customer)


@pytest.fixture
def products(db):
    return [ProductFactory(name="Laundry Pods"), ProductFactory(name="Laundry Powder"), ProductFactory(name="Paper Towels")]


@pytest.fixture
def unsure(wand, products):
    return make_voice_clip(device=wand, products=products[:2])


@pytest.fixture
def voice_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "voice_clips": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return tmp_path


# --- Services --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_confirming_holds_the_proposed_order(customer, unsure, products):
    assert unsure.order.status == S.NEEDS_CONFIRMATION
    clip = voice_clip_confirm(customer_id=customer.pk, public_id=unsure.public_id)
    assert clip.status == VoiceClip.Status.CONFIRMED
    order = Order.objects.get()
    assert (order.pk, order.status, order.product_id) == (unsure.order.pk, S.HELD, products[0].pk)
    assert list(order.events.values_list("from_status", "to_status")) == [("", "needs_confirmation"), ("needs_confirmation", "held")]


@pytest.mark.django_db(transaction=True)
def test_choosing_another_cancels_the_proposal_and_holds_the_chosen_product(customer, unsure, products):
    clip = voice_clip_choose(customer_id=customer.pk, public_id=unsure.public_id, sku=products[1].sku)
    assert clip.status == VoiceClip.Status.CHOSEN
    proposal = Order.objects.get(pk=unsure.order.pk)
    chosen = Order.objects.exclude(pk=proposal.pk).get()
    assert proposal.status == S.CANCELLED
    assert (chosen.status, chosen.product_id, chosen.source) == (S.HELD, products[1].pk, "voice")
    assert clip.order_id == chosen.pk


@pytest.mark.django_db(transaction=True)
def test_discarding_cancels_the_proposal_and_orders_nothing(customer, unsure):
    clip = voice_clip_discard(customer_id=customer.pk, public_id=unsure.public_id)
    assert clip.status == VoiceClip.Status.DISCARDED
    assert list(Order.objects.values_list("status", flat=True)) == [S.CANCELLED]


@pytest.mark.django_db(transaction=True)
def test_an_unknown_product_can_be_chosen_from_the_catalog_or_discarded(customer, wand, products):
    unknown = make_voice_clip(device=wand, products=[], status="unknown_product")
    with pytest.raises(DeviceError) as refused:
        voice_clip_confirm(customer_id=customer.pk, public_id=unknown.public_id)
    assert refused.value.status == 409
    clip = voice_clip_choose(customer_id=customer.pk, public_id=unknown.public_id, sku=products[2].sku)
    assert Order.objects.get().product_id == products[2].pk
    assert clip.status == VoiceClip.Status.CHOSEN


@pytest.mark.django_db(transaction=True)
def test_a_settled_clip_cannot_be_answered_again(customer, unsure, products):
    voice_clip_confirm(customer_id=customer.pk, public_id=unsure.public_id)
    for answer in (
        lambda: voice_clip_confirm(customer_id=customer.pk, public_id=unsure.public_id),
        lambda: voice_clip_discard(customer_id=customer.pk, public_id=unsure.public_id),
        lambda: voice_clip_choose(customer_id=customer.pk, public_id=unsure.public_id, sku=products[1].sku),
    ):
        with pytest.raises(DeviceError) as refused:
            answer()
        assert (refused.value.status, refused.value.code) == (409, "not_awaiting")
    assert Order.objects.get().status == S.HELD


@pytest.mark.django_db(transaction=True)
def test_choosing_an_unknown_sku_changes_nothing(customer, unsure):
    with pytest.raises(DeviceError):
        voice_clip_choose(customer_id=customer.pk, public_id=unsure.public_id, sku="NOPE-1")
    assert VoiceClip.objects.get().status == "needs_confirmation"
    assert Order.objects.get().status == S.NEEDS_CONFIRMATION


@pytest.mark.django_db(transaction=True)
def test_another_customers_clip_is_not_found(other_customer, unsure, products):
    for answer in (
        lambda: voice_clip_confirm(customer_id=other_customer.pk, public_id=unsure.public_id),
        lambda: voice_clip_discard(customer_id=other_customer.pk, public_id=unsure.public_id),
        lambda: voice_clip_choose(customer_id=other_customer.pk, public_id=unsure.public_id, sku=products[1].sku),
    ):
        with pytest.raises(VoiceClip.DoesNotExist):
            answer()
    assert Order.objects.get().status == S.NEEDS_CONFIRMATION


# --- The customer API -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_api_lists_what_awaits_the_customer_and_confirms(client, customer, unsure, wand, products):
    make_voice_clip(device=wand, products=[], status="unknown_product")
    make_voice_clip(device=wand, products=products[2:], status="discarded")
    client.force_login(customer)
    listed = client.get("/api/v1/me/voice").json()
    assert sorted(c["status"] for c in listed) == ["needs_confirmation", "unknown_product"]
    response = client.post(f"/api/v1/me/voice/{unsure.public_id}/confirm")
    assert response.status_code == 200
    assert response.json()["status"] == "confirmed"
    assert Order.objects.get(pk=unsure.order.pk).status == S.HELD


@pytest.mark.django_db(transaction=True)
def test_the_api_chooses_and_discards(client, customer, wand, products):
    first = make_voice_clip(device=wand, products=products[:2])
    client.force_login(customer)
    response = client.post(f"/api/v1/me/voice/{first.public_id}/choose", {"sku": products[1].sku}, content_type="application/json")
    assert (response.status_code, response.json()["status"]) == (200, "chosen")
    second = make_voice_clip(device=wand, products=products[2:])
    assert client.post(f"/api/v1/me/voice/{second.public_id}/discard").json()["status"] == "discarded"
    again = client.post(f"/api/v1/me/voice/{second.public_id}/discard")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "not_awaiting")
    bad = client.post(f"/api/v1/me/voice/{first.public_id}/choose", {}, content_type="application/json")
    assert bad.status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["confirm", "discard", "choose", "audio"])
def test_the_api_answers_404_for_another_customers_clip_and_refuses_anonymous(
    client, other_customer, unsure, products, action, voice_storage
):
    method = client.get if action == "audio" else client.post
    path = f"/api/v1/me/voice/{unsure.public_id}/{action}"
    data = {"sku": products[1].sku} if action == "choose" else {}
    assert method(path, data).status_code == 403  # anonymous
    client.force_login(other_customer)
    response = method(path, data)
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert client.get("/api/v1/me/voice").json() == []
    assert VoiceClip.objects.get().status == "needs_confirmation"


@pytest.mark.django_db(transaction=True)
def test_the_clip_plays_only_for_its_customer(client, customer, other_customer, wand, products, voice_storage):
    name = voice_clip_storage().save("WND/clip.wav", ContentFile(b"RIFF-the-clip"))
    clip = make_voice_clip(device=wand, products=products[:1], audio_name=name)
    assert client.get(f"/devices/voice/{clip.public_id}/audio").status_code == 302  # to login
    client.force_login(other_customer)
    assert client.get(f"/devices/voice/{clip.public_id}/audio").status_code == 404
    client.force_login(customer)
    for path in (f"/devices/voice/{clip.public_id}/audio", f"/api/v1/me/voice/{clip.public_id}/audio"):
        response = client.get(path)
        assert response.status_code == 200
        assert (response["Content-Type"], b"".join(response.streaming_content)) == ("audio/wav", b"RIFF-the-clip")
        assert "no-store" in response["Cache-Control"]


# --- The orders page ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_orders_page_asks_did_you_mean_and_shows_unknown_products(client, customer, unsure, wand, products):
    make_voice_clip(device=wand, products=[], status="unknown_product")
    client.force_login(customer)
    html = client.get("/orders/").content.decode()
    assert f"Did you mean {products[0].name}?" in html
    assert f"We heard: <q>{unsure.transcript}</q>" in html
    assert f'src="/devices/voice/{unsure.public_id}/audio"' in html
    assert f'action="/devices/voice/{unsure.public_id}/confirm"' in html
    assert f'<option value="{products[1].sku}">' in html
    assert f'action="/devices/voice/{unsure.public_id}/discard"' in html
    assert "We couldn't match that to a product" in html


@pytest.mark.django_db(transaction=True)
def test_the_orders_page_forms_confirm_choose_and_discard(client, customer, wand, products):
    client.force_login(customer)
    first = make_voice_clip(device=wand, products=products[:1])
    response = client.post(f"/devices/voice/{first.public_id}/confirm")
    assert (response.status_code, response["Location"]) == (302, "/orders/")
    assert Order.objects.get(pk=first.order.pk).status == S.HELD
    second = make_voice_clip(device=wand, products=products[1:3])
    client.post(f"/devices/voice/{second.public_id}/choose", {"sku": products[2].sku})
    assert Order.objects.get(product=products[2]).status == S.HELD
    third = make_voice_clip(device=wand, products=[], status="unknown_product")
    client.post(f"/devices/voice/{third.public_id}/discard")
    assert VoiceClip.objects.get(pk=third.pk).status == "discarded"
    assert "Spoken orders to check" not in client.get("/orders/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_orders_page_forms_404_for_another_customer(client, other_customer, unsure):
    client.force_login(other_customer)
    for action in ("confirm", "discard", "choose"):
        assert client.post(f"/devices/voice/{unsure.public_id}/{action}", {"sku": "x"}).status_code == 404
    assert Order.objects.get().status == S.NEEDS_CONFIRMATION
