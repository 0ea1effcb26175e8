from celery import shared_task

from partners.analytics.rollup import analytics_rollup_run


@shared_task
def rollup_analytics() -> int:
    """Keeps the partner figures fresh (beat, every DASH_ANALYTICS_ROLLUP_SECONDS); safe to run twice or concurrently."""
    return analytics_rollup_run().facts
