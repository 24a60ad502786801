"""Use cases: the only place that combines adapters and owns transactions."""
