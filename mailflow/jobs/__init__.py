"""Dramatiq broker set-up and thin actors that take outbox ids. No import-time side effects."""
