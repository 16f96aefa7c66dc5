"""What the log makes possible: the hash chain, its verification, and audit queries."""
