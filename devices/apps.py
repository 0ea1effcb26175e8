from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self):
        # Partner analytics reads this app's facts through a feed it registers (partners is below devices).
        from devices import analytics_feed

        analytics_feed.register()
