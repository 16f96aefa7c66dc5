"""berth's CLI as a client of berthd: the HTTP client and the remote commands (ADR/0015).

Nothing here imports trio, eventsourcing or rich at module level: `berth -H ... run` must
start fast.
"""
