"""Errors the user sees as one line (the CLI prints ``osdfilter: error: <message>``)."""


class OSDFilterError(Exception):
    """Base class: a problem with the user's input, options or environment."""


class CheckpointError(OSDFilterError):
    """A model file that is missing, corrupt, or not an osdfilter checkpoint."""


class MediaError(OSDFilterError):
    """A video that cannot be opened, decoded or written."""


class MaskError(OSDFilterError):
    """A mask image that is missing, unreadable, empty or unusable."""


INTERRUPTED = "interrupted; no output written"  # Ctrl-C's one line, during a run or while it loads


class PipeClosedError(MediaError):
    """The reader of the output pipe (stdout) closed it before the video was written."""


PIPE_CLOSED = "output pipe closed by the reader"

# Messages name a setting as the command line spells it (``--crf``) while the ``osdfilter``
# command runs, else as process_video's parameter (``crf``). One command per process: a
# flag, not a context variable, so that the pipeline's threads see it too.
_CLI_NAMES = [False]


def option(name: str) -> str:
    """``crf`` -> ``--crf`` under the command line, ``crf`` for API callers."""
    return "--" + name.replace("_", "-") if _CLI_NAMES[0] else name


def naming_flags() -> bool:
    """Whether messages name command-line flags now (handed on to --jobs worker processes)."""
    return _CLI_NAMES[0]


def name_flags(on: bool) -> None:
    _CLI_NAMES[0] = on


class cli_names:
    """``with cli_names():`` messages name command-line flags inside the block."""

    def __enter__(self) -> None:
        self.previous = naming_flags()
        name_flags(True)

    def __exit__(self, *exc: object) -> None:
        name_flags(self.previous)
