"""What the CLI speaks and prints: its HTTP client of the API, stdcopy frames, tables, and
the command log `berth replay` re-issues (ADR/0015, ADR/0024).

Nothing here imports trio, eventsourcing or rich at module level: `berth -H ... run` must
start fast.
"""
