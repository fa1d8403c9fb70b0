"""The one exception type the command line turns into a one-line message and exit code."""


class UserError(Exception):
    """Bad input from the user: a file, a value or a shape; the message names it."""
