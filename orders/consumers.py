"""`/ws/orders/`: a signed-in customer's live order updates (group `customer.<id>`).

The consumer only forwards: services broadcast after commit (orders.broadcast), from web and
worker processes alike, through the channel layer. Sends are at-most-once; the page compares
each order's `version` with what it shows and refetches the list on a gap or a reconnect."""

from typing import NotRequired, TypedDict

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from orders.broadcast import OrderUpdateMessage, customer_group

# Close code for "not signed in" (4000-4999 are the application's own; 4401 mirrors HTTP 401).
CLOSE_UNAUTHENTICATED = 4401


class OrderUpdateFrame(TypedDict):
    """What the browser receives for each order change."""

    type: str  # always "order.update"
    order: dict  # the order summary (id, status, product, quantity, hold_until, version)
    committed_at: NotRequired[float]  # Unix seconds, right after the change committed


class OrderUpdatesConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = customer_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """The page sends nothing but pings (to keep proxies from closing an idle socket)."""
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def order_update(self, message: OrderUpdateMessage):
        frame: OrderUpdateFrame = {"type": "order.update", "order": message["order"]}
        if "committed_at" in message:
            frame["committed_at"] = message["committed_at"]
        await self.send_json(frame)
