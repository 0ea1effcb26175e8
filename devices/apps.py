from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self):
        # devices -> orders: push the filtered-press counts down to the orders page and API.
        from devices.selectors import filtered_presses_by_order
        from orders.facts import register_filtered_request_counter

        register_filtered_request_counter(filtered_presses_by_order)

        # Partner analytics reads this app's facts through a feed it registers (partners is below devices).
        from devices import analytics_feed

        analytics_feed.register()
