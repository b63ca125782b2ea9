"""The storage's errors, one class per thing a caller may want to tell
apart (the database is gone, a row is missing, an answer nobody asked for,
too many labels). Why a module of its own: every job raises them and the
bridge, the channels and the CLI catch them, without importing the rest."""
from __future__ import annotations


class StorageError(Exception):
    """Base of the bridge's storage errors."""


class StorageUnavailable(StorageError):
    """The database cannot be reached (or is locked)."""


class NotFound(StorageError):
    """No such conversation, agent or episode."""


class NoCsatPending(StorageError):
    """A CSAT arrived but no closed handoff waits for one."""


class NoNpsPending(StorageError):
    """An NPS answer arrived but no question waits for one."""


class TooManyLabels(StorageError):
    """A conversation would get more labels than allowed."""
