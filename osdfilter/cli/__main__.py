"""``python -m osdfilter.cli``: the console script."""

from .main import main

main()
