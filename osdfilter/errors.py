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
