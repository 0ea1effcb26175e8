from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self):
        # Partner analytics reads this app's facts through a feed it registers (partners is below orders).
        from orders import analytics_feed

        analytics_feed.register()
