"""Views of the log: projections with tracking, and every read query the front-ends use."""
