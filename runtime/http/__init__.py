"""One HTTP/1.1 server core (trio + h11) for every front-end berthd serves.

It knows HTTP, not Docker nor the dashboard: a front-end is a `server.Site` (its routes,
the headers on every reply, how its requests are made, its limits, its error hook),
served on listeners by `listen.serve_listeners(..., server.Server(site).handle, ...)`.
The handlers' types are in `messages`, the route table in `routing`.
"""
