"""The one shape of a refused request: which field, and what rule it broke."""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be done as asked; ``field`` names the culprit, ``status`` the
    HTTP answer the API gives for it."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
