"""A backend whose engine fails the way drivers do: with an error quoting the connection URL."""

from __future__ import annotations

from typing import Any

from queuekit import BaseQueue


class ExplodingQueue(BaseQueue):
    """Refuses to connect, and (like many drivers) names the URL it was given in the error."""

    backend_name = "exploding"

    def __init__(self, options: dict[str, Any] | None = None, /, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        raise ConnectionRefusedError(f"cannot connect to {self.url}")
