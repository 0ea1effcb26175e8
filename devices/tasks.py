from celery import shared_task

from devices import services


@shared_task(ignore_result=True)
def prune_device_events() -> int:
    """Beat: delete device events past DASH_EVENT_RETENTION_HOURS."""
    return services.device_events_prune()
