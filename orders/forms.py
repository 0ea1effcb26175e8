"""Forms of the customer's pages (settings here; devices reuse the hold window field)."""

from zoneinfo import available_timezones

from django import forms
from django.conf import settings

SITE_DEFAULT = ""

_COMMON_HOLDS = (0, 60, 5 * 60, 15 * 60, 30 * 60, 60 * 60, 2 * 3600, 6 * 3600, 24 * 3600)


def describe_hold(seconds: int | None) -> str:
    if seconds is None:
        return f"the default ({describe_hold(settings.DASH_HOLD_SECONDS)})"
    if seconds == 0:
        return "release at once"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "1 hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"


def hold_choices(*, current: int | None, default_label: str) -> list[tuple[str, str]]:
    """The hold windows offered in a select; a customised value outside the list stays selectable."""
    values = sorted({*_COMMON_HOLDS, *([current] if current is not None else [])})
    return [(SITE_DEFAULT, default_label)] + [(str(v), describe_hold(v).capitalize()) for v in values]


def hold_from_choice(value: str) -> int | None:
    return None if value == SITE_DEFAULT else int(value)


class HoldWindowField(forms.TypedChoiceField):
    def __init__(self, *, current: int | None, default_label: str, **kwargs):
        super().__init__(
            choices=hold_choices(current=current, default_label=default_label),
            coerce=hold_from_choice,
            empty_value=None,
            required=False,
            **kwargs,
        )


class CustomerSettingsForm(forms.Form):
    email_notices = forms.BooleanField(required=False, label="E-mail me when an order is placed, released and delivered")
    time_zone = forms.ChoiceField(label="Time zone", help_text="Times on your pages are shown in this zone.")

    def __init__(self, *args, current, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_hold_seconds"] = HoldWindowField(
            current=current.default_hold_seconds,
            default_label=f"Site default ({describe_hold(settings.DASH_HOLD_SECONDS)})",
            label="Hold window for new orders",
            help_text="How long a new order waits for you to approve or remove it. A device can have its own.",
        )
        self.fields["time_zone"].choices = [(z, z) for z in sorted(available_timezones())]
        self.order_fields(["default_hold_seconds", "email_notices", "time_zone"])
        if not self.is_bound:
            self.initial = {
                "default_hold_seconds": "" if current.default_hold_seconds is None else str(current.default_hold_seconds),
                "email_notices": current.email_notices,
                "time_zone": current.time_zone,
            }
