"""`{% voice_confirmations %}`: the customer's spoken orders that wait for an answer.

A template tag rather than view context: the orders page belongs to `orders`, which must not
import `devices` (the dependency points the other way); the page only includes the template."""

from django import template

from devices.voice.selectors import voice_clips_awaiting_customer

register = template.Library()


@register.simple_tag(takes_context=True)
def voice_confirmations(context) -> list:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return []
    return list(voice_clips_awaiting_customer(customer_id=user.pk)[:20])
