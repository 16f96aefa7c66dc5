"""One contract suite per adapter Protocol, run against the fake and the real adapter: what
the service may rely on, and proof that each fake keeps the same promises."""
