"""Every error the recorder raises, in one hierarchy.

Each error says what went wrong, with which input, and what to do about it. Errors from the
libraries underneath (apsw, zmq, sqlalchemy, protobuf) are translated where they are raised,
with ``raise ... from exc``, so callers only ever need to catch these::

    RecorderError                      base of everything below
    ├── ConfigError                    config.toml / environment / flag is unknown or mistyped
    ├── ProtocolError                  an LX/1 rule was broken
    │   ├── LocalProtocolError         by us: the API was misused (e.g. a batch of 201 messages)
    │   └── RemoteProtocolError        by the peer: bytes that are not a valid LX/1 frame;
    │                                  carries ``raw``, the bytes exactly as they came
    ├── JournalError                   anything about a journal file
    │   ├── NotAJournalError           the file is not a SQLite journal (or is corrupted)
    │   ├── JournalSchemaError         the file's schema revision is not this recorder's:
    │   │                              back it up and run ``recorder db upgrade``
    │   ├── JournalAccessError         the file or its directory cannot be opened or written
    │   ├── JournalFullError           the disk (or the file's size limit) is full; capture stopped
    │   ├── JournalClosedError         the appender was closed, or stopped by an earlier failure
    │   ├── AppendOnlyError            an UPDATE or DELETE of a journaled frame was refused
    │   ├── UnknownVenueError          a session's venue is not one this recorder can read
    │   └── SQLiteLibraryConflict      two SQLite libraries on one file in one process (rule 5)
    ├── IntegrityError                 ``verify`` found a break; carries ``position``
    ├── CertificateError               a CURVE key certificate is missing, unreadable, malformed
    │                                  or would be overwritten (``recorder keys generate``)
    ├── SimulatorError                 the exchange simulator cannot start or was asked
    │                                  something it cannot do (a port in use, an unknown
    │                                  participant or fault, a control request timing out)
    └── CaptureError                   the capture service cannot start (a port in use, a key
                                       missing) or its status socket does not answer

Whose fault it is follows h11: *Local* errors are bugs in the caller, *Remote* errors are the
peer's, and journal errors are about the environment (disk, permissions, the file itself).
"""

from __future__ import annotations


class RecorderError(Exception):
    """Base class of every error the recorder raises on purpose."""


class ConfigError(RecorderError):
    """A configuration value is unknown or has the wrong type; the message names key and source."""


class ProtocolError(RecorderError):
    """An LX/1 protocol rule was broken."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something LX/1 does not allow (a bug on our side of the wire)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not a valid LX/1 frame.

    ``raw`` holds the bytes exactly as they came, so they can be journaled and flagged.
    """

    def __init__(self, message: str, raw: bytes) -> None:
        super().__init__(message)
        self.raw = raw


class JournalError(RecorderError):
    """Something is wrong with a journal file."""


class NotAJournalError(JournalError):
    """The file is not a recorder journal (not SQLite, corrupted, or another database)."""


class JournalSchemaError(JournalError):
    """The file's schema revision differs from this recorder's."""


class JournalAccessError(JournalError):
    """The journal file or its directory cannot be opened, created or written."""


class JournalFullError(JournalError):
    """The disk or the journal's size limit is full.

    Capture has stopped; nothing committed before is lost.
    """


class JournalClosedError(JournalError):
    """The appender is closed, or was stopped by an earlier failure (see ``__cause__``)."""


class AppendOnlyError(JournalError):
    """An attempt to UPDATE or DELETE a journaled frame was refused by the journal's triggers."""


class UnknownVenueError(JournalError):
    """A journal session names a venue whose frames this recorder cannot read."""


class SQLiteLibraryConflict(JournalError):
    """Two SQLite libraries would hold the same file in one process (ARCHITECTURE.md rule 5)."""


class IntegrityError(RecorderError):
    """``verify`` found a broken hash chain or sequence; ``position`` is the first bad row."""

    def __init__(self, message: str, position: int | None) -> None:
        super().__init__(message)
        self.position = position


class CertificateError(RecorderError):
    """A CURVE certificate is missing, unreadable or malformed, or would be overwritten."""


class SimulatorError(RecorderError):
    """The exchange simulator cannot start, or was asked something it cannot do."""


class CaptureError(RecorderError):
    """The capture service cannot start (bind, keys, upstream) or does not answer its status."""


class ClientError(RecorderError):
    """The client SDK cannot do what was asked (bad keys or endpoints, a context started twice)."""


class ClientClosedError(ClientError):
    """A command was submitted to a context that is not running.

    The context was never started, was stopped, or stopped itself after a fatal error (a journal
    failure: nothing may be sent that cannot be journaled first); ``__cause__`` says which.
    """
