"""The one way every part is released: `close()`, any number of times, from any thread.

As gpiozero's devices do: `closed` says whether it has happened, and the part is a context manager
that closes it on the way out. A part sets `_closed` in its own `close()`.
"""

from __future__ import annotations

from typing import Self


class Closing:
    """Mixin: the `closed` property and the context manager for a part with an idempotent `close()`."""

    _closed = False

    @property
    def closed(self) -> bool:
        """True once `close()` has run."""
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # every part has its own
        raise NotImplementedError
