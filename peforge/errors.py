"""The exceptions the command line turns into a one-line message and an exit code."""


class UserError(Exception):
    """Bad input from the user: a file, a value or a shape; the message names it."""


class MismatchError(Exception):
    """The RTL and the golden model disagree (exit status 1)."""
