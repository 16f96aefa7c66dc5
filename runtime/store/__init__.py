"""The event store: the log (SQLite), its encoding, its hash chain and their checks."""
