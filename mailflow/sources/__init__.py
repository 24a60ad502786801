"""Adapters that yield raw mail from a mailbox. They never parse and never store."""
