"""berth.domain."""
