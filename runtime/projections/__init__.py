"""Projections: views of the event log that `ps`, `inspect` and `images` read."""
