"""The web view and its JSON API (``mailflow web``): items, threads, confirmations, the outbox."""
