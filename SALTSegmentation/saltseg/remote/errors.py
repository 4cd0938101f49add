"""The errors of talking to a SALT server. Each is a :class:`~saltseg.errors.SaltSegError`: one line
on the command line, an ``error`` event of the engine service."""
from __future__ import annotations

from ..errors import SaltSegError


class ServerError(SaltSegError):
    """The SALT server cannot be reached, refused the request, or stopped during the job."""


class ServerUnreachableError(ServerError):
    """No connection to the server (wrong address, server down, TLS certificate not trusted)."""


class ServerAuthError(ServerError):
    """The server refused the token (missing, wrong, or rotated away)."""


class ServerLostError(ServerError):
    """The connection broke during a job (the server stopped or crashed); nothing was written."""
