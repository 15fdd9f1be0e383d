"""Errors the engine raises for bad input or an unusable environment.

Every message names the offending field and, where there is one, its allowed range, so the UI and the
CLI can show it to the user verbatim instead of a traceback.
"""


class TwinLabError(Exception):
    """Base class: an error with a one-line message fit to show to a user.

    Line breaks inside the message (e.g. from a parser's own error text) are folded into spaces.
    """

    def __init__(self, message: object = "", *args: object):
        super().__init__(" ".join(str(message).split()), *args)


class InputError(TwinLabError, ValueError):
    """A user-supplied value is invalid (out of range, wrong type, non-finite, malformed file)."""


class BackendError(TwinLabError):
    """The requested array backend or device is not available on this machine."""
