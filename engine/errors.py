"""Errors the engine raises for bad input or an unusable environment.

Every message names the offending field and, where there is one, its allowed range, so the UI and the
CLI can show it to the user verbatim instead of a traceback.
"""


class TwinLabError(Exception):
    """Base class: an error with a message fit to show to a user."""


class InputError(TwinLabError, ValueError):
    """A user-supplied value is invalid (out of range, wrong type, non-finite, malformed file)."""


class BackendError(TwinLabError):
    """The requested array backend or device is not available on this machine."""
