"""Exceptions that carry a message meant for the user: the file and what is wrong with it."""


class SalmapError(Exception):
    """Base class for errors salmap reports to the user without a traceback."""


class DataError(SalmapError, ValueError):
    """A dataset file or folder that cannot be read as expected."""
