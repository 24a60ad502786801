"""Pure mail understanding: bytes in, frozen values out.

Nothing in this package imports storage, sources, jobs, templates or the network.
"""
