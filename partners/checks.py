"""System checks of the partner analytics settings."""

from django.conf import settings
from django.core.checks import Error, register

from partners.models import ProductDayStat


@register()
def privacy_threshold_check(app_configs, **kwargs) -> list[Error]:
    """The cells keep up to SAMPLE_SIZE customers each, which decides exactly any threshold up to
    that size (partners.analytics.selectors._cells); a higher one cannot be decided."""
    threshold = settings.DASH_PRIVACY_MIN_CUSTOMERS
    if 1 <= threshold <= ProductDayStat.SAMPLE_SIZE:
        return []
    return [
        Error(
            f"DASH_PRIVACY_MIN_CUSTOMERS is {threshold}; it must be between 1 and {ProductDayStat.SAMPLE_SIZE}.",
            hint=(
                "The analytics cells sample at most ProductDayStat.SAMPLE_SIZE customers, enough to decide a threshold up to"
                " that size. A higher one needs a larger SAMPLE_SIZE and the cells recounted."
            ),
            id="partners.E001",
        )
    ]
