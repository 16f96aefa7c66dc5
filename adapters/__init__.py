"""berth.adapters."""
