from celery import shared_task

from devices import appliances, health, services


@shared_task(ignore_result=True)
def prune_device_events() -> int:
    """Beat: delete device events past DASH_EVENT_RETENTION_HOURS."""
    return services.device_events_prune()


@shared_task(ignore_result=True)
def check_device_health() -> None:
    """Beat: tell customers about silent devices and low batteries, once per episode."""
    health.devices_check_health()


@shared_task(ignore_result=True)
def prune_slot_readings() -> int:
    """Beat: delete appliance readings past DASH_SLOT_READING_RETENTION_DAYS."""
    return appliances.slot_readings_prune()
