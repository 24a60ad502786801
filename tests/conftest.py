"""Shared fixtures: real servers started per session, real databases per test."""

pytest_plugins = [
    "tests.servers.dovecot",
    "tests.servers.databases",
    "tests.servers.smtp",
    "tests.servers.slapd",
    "tests.servers.private",
]
