class OrderStateError(Exception):
    """An operation that the order's current state does not allow."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail
