"""The ``osdfilter`` console script.

It imports the command (torch and PyAV: a few seconds) where a Ctrl-C is answered like one
during a run: one line and exit status 130, not an import's traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Optional


def main(argv: Optional[list[str]] = None) -> None:
    from .errors import INTERRUPTED  # (light: no torch, no PyAV)

    def interrupted(signum: int, frame: Any) -> None:
        # Not a KeyboardInterrupt: raised inside torch's C++ initialisation it aborted the
        # process ("terminate called after throwing ... KeyboardInterrupt"). Nothing has been
        # written yet, so leave at once.
        sys.stderr.write(f"osdfilter: error: {INTERRUPTED}\n")
        sys.stderr.flush()
        os._exit(130)

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        from .cli.main import main as cli_main
    finally:
        signal.signal(signal.SIGINT, previous)
    cli_main(argv)
