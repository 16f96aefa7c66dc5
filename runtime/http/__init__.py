"""One HTTP/1.1 server core (trio + h11) for every front-end berthd serves."""
