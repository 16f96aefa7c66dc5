"""Name resolution for containers on user-defined networks: a name server process per berth
root (server.py) answering on each network's gateway address from records the engine
publishes (nameserver.py), and what the service may rely on from it (protocol.py)."""
