"""Which SALT server a client talks to: its URL, its token and, for a certificate the system does
not trust (a self-signed one), the CA file to trust instead. Standard library only.

The token is a secret: it is read from a file (never a command-line argument, which ``ps`` shows
to every user), kept out of ``repr`` and never logged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union
from urllib.parse import urlsplit

from ..errors import RequestError
from .errors import ServerError

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class ServerAddress:
    url: str
    token: str = field(repr=False)
    #: PEM file of the certificate(s) to trust for this server (None: the system's trust store,
    #: which ``SSL_CERT_FILE`` can replace).
    ca_file: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", check_server_url(self.url))
        if not self.token or any(ch.isspace() for ch in self.token):
            raise ServerError("the server's token is empty or contains spaces or line breaks")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def is_https(self) -> bool:
        return self.url.startswith("https://")


def check_server_url(url: str) -> str:
    """``url`` without a trailing slash, or :class:`ServerError` saying what is wrong with it."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError as error:
        raise ServerError(f"the server address {text!r} is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerError(f"the server address must look like https://gpu-server:8765, got {text!r}")
    if parts.username is not None or parts.password is not None:
        raise ServerError("put no user name or password in the server address; the token goes in a token file")
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ServerError(f"the server address is the server's root (https://host:port), got {text!r}")
    return f"{parts.scheme}://{parts.netloc}"


def read_token_file(path: Union[str, Path]) -> str:
    """The token in ``path``: its first non-empty line (a server's token file may list several)."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ServerError(f"token file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ServerError(f"cannot read the token file {path}: {error}") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not tokens:
        raise ServerError(f"token file {path} holds no token")
    return tokens[0]


def address_from_request(value: Any) -> Optional[ServerAddress]:
    """The engine service request's ``"server"`` field: None, or ``{"url", "token"[, "ca_file"]}``;
    :class:`RequestError` naming what is wrong (never showing the token)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RequestError("'server' must be an object {\"url\": ..., \"token\": ...}")
    unknown = sorted(set(value) - {"url", "token", "ca_file"})
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))} in 'server'; it has url, token, ca_file")
    for name in ("url", "token"):
        if not isinstance(value.get(name), str) or not value[name].strip():
            raise RequestError(f"'server' needs a non-empty string {name!r}")
    ca_file = value.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise RequestError("'server'.'ca_file' must be a string (a PEM file) or null")
    try:
        return ServerAddress(value["url"], value["token"].strip(), ca_file or None)
    except ServerError as error:
        raise RequestError(str(error)) from None


def is_loopback_host(host: str) -> bool:
    """A name or address that never leaves this computer."""
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
