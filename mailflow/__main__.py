"""The ``mailflow`` command starts here: ``python -m mailflow`` and the console script alike.

This module imports nothing until ``main`` runs. The console script is a file, and
``multiprocessing`` runs a program's main file again in every process it starts, the parse
workers included (``service.parsing``): with the command line imported at the top, each
worker loaded all of it before its first mail, about 0.16 s of CPU for nothing.
"""

from __future__ import annotations

from typing import Any


def main() -> Any:
    """Run the command line (``mailflow.cli.main``)."""
    from mailflow.cli import main as command_line

    return command_line()


if __name__ == "__main__":
    main()
