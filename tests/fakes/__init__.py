"""In-memory stand-ins for the adapters, each keeping its Protocol's promises (the
contract suites in tests/contracts hold them to it), with failures a test can arrange."""
