"""`berth`: the command-line client (ADR/0015, ADR/0021)."""
