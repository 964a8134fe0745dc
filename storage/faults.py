"""Database failures that retrying cannot mend: a read-only database, a full disk."""

from __future__ import annotations

import sqlalchemy.exc

# (substring of the driver's message, lower case) -> what the operator must know.
_FATAL = (
    ("readonly database", "the database is read-only"),
    ("read-only transaction", "the database is read-only"),
    ("database or disk is full", "the disk is full"),
    ("no space left on device", "the disk is full"),
    ("could not extend file", "the disk is full"),
    ("disk i/o error", "the disk reported an I/O error"),
    ("unable to open database file", "the database file cannot be opened for writing"),
)


def fatal_reason(exc: BaseException) -> str | None:
    """Why the database cannot store anything, or None if ``exc`` is not such a failure."""
    if not isinstance(exc, sqlalchemy.exc.DBAPIError | OSError):
        return None
    message = str(getattr(exc, "orig", None) or exc).lower()
    for needle, reason in _FATAL:
        if needle in message:
            return reason
    return None


class StorageFailure(Exception):
    """The database refused to store events; the bot stopped instead of losing them."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
