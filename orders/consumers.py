"""`/ws/orders/`: a signed-in customer's live order updates (group `customer.<id>`)."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from orders.broadcast import customer_group


class OrderUpdatesConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = customer_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def order_update(self, message):
        await self.send_json({"type": "order.update", "order": message["order"]})
