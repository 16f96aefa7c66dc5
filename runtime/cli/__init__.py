"""`berth`: the command-line client, of berthd or of its own in-process engine (ADR/0024)."""
