class OrderStateError(Exception):
    """An operation that the order's current state does not allow."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class SettingsError(Exception):
    """Customer settings that are not valid; nothing was changed."""

    def __init__(self, code: str, detail: str, *, fields: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.fields = fields or {}
