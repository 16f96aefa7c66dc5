"""The route table: method and a regex over the path, named groups as parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import HttpError

H = TypeVar("H")  # what a front-end calls for a route: its handler type
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@dataclass
class Route(Generic[H]):
    method: str
    pattern: re.Pattern[str]  # over the whole path (`fullmatch`: no `$` before a newline)
    handler: H
    upload: bool  # the body is spooled to a file, not held in memory
    streamed: bool = False  # the body is left to the handler to read as it comes (body.py)

    @property
    def template(self) -> str:
        """The pattern with each named group as `{name}`: a label that is never a raw path."""
        return _NAMED_GROUP.sub(lambda found: "{" + found.group(1) + "}", self.pattern.pattern)


class Router(Generic[H]):
    """Routes by method and path; the first route that matches answers, and a GET route
    answers HEAD too."""

    def __init__(self) -> None:
        self.routes: list[Route[H]] = []

    def add(
        self,
        method: str,
        pattern: str,
        handler: H,
        *,
        upload: bool = False,
        streamed: bool = False,
    ) -> None:
        """`pattern` is a regex over the whole path; named groups become `request.params`."""
        self.routes.append(Route(method, re.compile(pattern), handler, upload, streamed))

    def match(self, method: str, path: str) -> tuple[Route[H], dict[str, str]]:
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found and (route.method == method or (method == "HEAD" and route.method == "GET")):
                return route, found.groupdict()
        raise HttpError(404, "page not found")
