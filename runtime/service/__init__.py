"""The engine: one method per verb, the reactors that carry intents out, reconcile."""
