from orders.commerce.base import CommerceBackend, CommerceError, Receipt, get_backend

__all__ = ["CommerceBackend", "CommerceError", "Receipt", "get_backend"]
