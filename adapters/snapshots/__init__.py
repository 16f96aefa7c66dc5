"""berth.adapters.snapshots."""
