"""mailflow: a shared mailbox that runs the company's written communication standard."""

__version__ = "0.1.0"
