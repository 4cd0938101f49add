"""Who may use the server: a request must carry ``Authorization: Bearer TOKEN`` with a token of the
server's token file, checked before anything of the request is read or stored.

The token file holds one token per line (``#`` comments allowed). It is read again whenever it
changes, so a token is rotated without a restart: add the new token as a second line, hand it
out, then delete the old line. Tokens are compared in constant time (:func:`hmac.compare_digest`),
each of them, so the time of a refusal says nothing about any token.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable, MutableMapping, Optional

from ..errors import SaltSegError
from .api import PUBLIC_PATHS

logger = logging.getLogger(__name__)

#: Shorter tokens can be guessed; ``secrets.token_urlsafe(32)`` gives 43 characters.
MIN_TOKEN_LENGTH = 16

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenFileError(SaltSegError):
    """The server's token file is missing, empty or holds a token too short to be safe."""


def parse_tokens(text: str, source: Path) -> list[bytes]:
    tokens = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise TokenFileError(f"token file {source} holds no token; make one with: python -c \"import secrets; "
                             f"print(secrets.token_urlsafe(32))\" > {source}")
    short = [index + 1 for index, token in enumerate(tokens) if len(token) < MIN_TOKEN_LENGTH]
    if short:
        raise TokenFileError(f"token file {source}: token {', '.join(map(str, short))} is shorter than "
                             f"{MIN_TOKEN_LENGTH} characters; use python -c \"import secrets; "
                             "print(secrets.token_urlsafe(32))\"")
    if any(any(ch.isspace() or ord(ch) < 33 for ch in token) for token in tokens):
        raise TokenFileError(f"token file {source}: a token contains spaces or control characters")
    return [token.encode("utf-8") for token in tokens]


class TokenStore:
    """The valid tokens, from the token file, re-read when the file changes. A file that turns
    bad while serving (emptied, removed) refuses every request until it is fixed: fail closed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser().absolute()
        self._lock = threading.Lock()
        self._stamp: Optional[tuple[int, int, int]] = None
        self._tokens: list[bytes] = []
        self._load(strict=True)

    def _load(self, strict: bool) -> None:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            if stamp == self._stamp:
                return
            if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                logger.warning("token file %s can be read by other users: chmod 600 %s", self.path, self.path)
            tokens = parse_tokens(self.path.read_text(encoding="utf-8"), self.path)
        except (OSError, UnicodeDecodeError, TokenFileError) as error:
            if strict:
                if isinstance(error, FileNotFoundError):
                    raise TokenFileError(f"token file {self.path} does not exist; make one with: python -c \"import "
                                         f"secrets; print(secrets.token_urlsafe(32))\" > {self.path}") from None
                raise TokenFileError(str(error) if isinstance(error, TokenFileError)
                                     else f"cannot read the token file {self.path}: {error}") from None
            if self._tokens:
                logger.error("token file %s cannot be used (%s): refusing every request until it is fixed",
                             self.path, error)
            self._tokens, self._stamp = [], None
            return
        if self._stamp is not None:
            logger.warning("token file %s changed: %d token(s) now valid", self.path, len(tokens))
        self._tokens, self._stamp = tokens, stamp

    def valid(self, presented: bytes) -> bool:
        with self._lock:
            self._load(strict=False)
            tokens = list(self._tokens)
        matches = [hmac.compare_digest(presented, token) for token in tokens]  # every one: constant time
        return any(matches)


def bearer_token(scope: Scope) -> Optional[bytes]:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else None
    return None


class TokenMiddleware:
    """ASGI middleware: a request without a valid token is answered 401 before its body is read,
    so nothing of it is stored anywhere; the API's description stays public."""

    def __init__(self, app: ASGIApp, tokens: TokenStore) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        presented = bearer_token(scope)
        if presented is not None and self.tokens.valid(presented):
            await self.app(scope, receive, send)
            return
        logger.warning("refused %s %s from %s: %s", scope.get("method"), scope.get("path", "")[:80],
                       (scope.get("client") or ("?",))[0], "wrong token" if presented else "no token")
        message = ("wrong token" if presented else
                   "no token: send the header 'Authorization: Bearer TOKEN' with the server's token")
        body = json.dumps({"error": {"type": "ServerAuthError", "message": message}}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
