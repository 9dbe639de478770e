"""The ``osdfilter`` console script.

It imports the command (torch and PyAV: a few seconds) where a Ctrl-C is answered like one
during a run: one line and exit status 130, not an import's traceback.
"""

from __future__ import annotations

import sys
from typing import Optional


def main(argv: Optional[list[str]] = None) -> None:
    from .errors import INTERRUPTED  # (light: no torch, no PyAV)

    try:
        from .cli.main import main as cli_main
    except KeyboardInterrupt:
        print(f"osdfilter: error: {INTERRUPTED}", file=sys.stderr)
        raise SystemExit(130) from None
    cli_main(argv)
