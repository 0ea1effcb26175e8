"""A shop on this machine: accepts at once; the beat task `advance_simulated_commerce` then
ships and delivers after DASH_SIM_SHIP_SECONDS and DASH_SIM_DELIVER_SECONDS."""

from orders.commerce.base import Receipt


class SimulatedBackend:
    name = "simulated"
    batch = True  # answers in-process: a released batch is submitted in one transaction

    def submit(self, order) -> Receipt:
        return Receipt(reference=f"SIM-{order.public_id.hex[:12].upper()}")
