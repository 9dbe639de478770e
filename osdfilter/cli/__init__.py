"""The ``osdfilter`` command line: thin click shells over the API (main.py: the run command;
export.py, train.py: the subcommands, imported only when named)."""
