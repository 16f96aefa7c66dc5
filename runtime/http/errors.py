"""A refusal the HTTP core or a front-end answers, apart from the messages so that the
body readers below them can raise it too."""

from __future__ import annotations

Headers = list[tuple[str, str]]


class HttpError(Exception):
    """A refusal the core or a front-end answers with `status` and `message`."""

    def __init__(self, status: int, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
