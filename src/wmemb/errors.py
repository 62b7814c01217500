"""The one exception users see.

Every problem a user can fix (a missing file, a bad field, an unreachable server) is raised as
`WMEmbError` with a one-line message that names the file/field and says what to do. The CLI prints
it without a traceback and exits non-zero; anything else is a bug and keeps its traceback.
"""


class WMEmbError(Exception):
    """A problem with the user's input or environment, explained in one line."""
