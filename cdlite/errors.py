"""One exception type for mistakes a user can fix (bad input, bad file, bad option).

The CLI prints these as a single line and exits non-zero; anything else is a bug and keeps its
traceback. Messages say what was wrong, with the value, and what to do.
"""


class CdliteError(ValueError):
    """A user-facing error: the message is complete and actionable on its own."""
