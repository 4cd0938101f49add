"""Where segmentation runs — this computer or a SALT server (``saltseg serve``) — as the module keeps
it in Slicer's application settings (``QSettings``: per user and computer, never in the scene).

The server's token is a secret: it lives only in these settings and in the request written to the
engine process's stdin (``"server": {"url", "token"[, "ca_file"]}``), never in the parameter node, an MRML
attribute, a log line or a command line. Qt-free: every function takes the settings store (an
object with QSettings' ``value``/``setValue``/``remove``), ``qt.QSettings()`` in Slicer.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Protocol
from urllib.parse import urlsplit

from saltseg.errors import SaltSegError
# The engine reports a server's failure by its class name; the class must be imported here for
# saltseg.service.errors.error_from_event to give it back (ServerAuthError, ServerUnreachableError).
from saltseg.remote import errors as remote_errors  # noqa: F401

#: "local" (this computer) or "server".
RUN_ON_SETTING = "SALTSegmentation/RunOn"
SERVER_URL_SETTING = "SALTSegmentation/ServerURL"
#: The server's access token: a secret, stored in the user's Slicer settings only.
SERVER_TOKEN_SETTING = "SALTSegmentation/ServerToken"
#: Set only by the user's explicit choice: plain http to a host other than this computer.
ALLOW_UNENCRYPTED_SETTING = "SALTSegmentation/ServerAllowUnencrypted"
#: A certificate file to trust for the server (one signed by no authority this computer knows).
SERVER_CA_FILE_SETTING = "SALTSegmentation/ServerCAFile"

LOCAL, SERVER = "local", "server"
RUN_ON_CHOICES = (LOCAL, SERVER)
#: The address shown as an example (``saltseg serve``'s default port).
EXAMPLE_URL = "https://gpu-server.example.org:8765"


class ServerSettingsError(SaltSegError):
    """The server settings cannot be used as they are (the message says what to change)."""


class SettingsStore(Protocol):
    def value(self, key: str, default: Any = None) -> Any: ...

    def setValue(self, key: str, value: Any) -> None: ...  # noqa: N802 - QSettings' API

    def remove(self, key: str) -> None: ...


@dataclass(frozen=True)
class ServerSettings:
    run_on: str = LOCAL
    url: str = ""
    #: Kept out of ``repr``: a settings object logged by mistake must not show the secret.
    token: str = field(default="", repr=False)
    allow_unencrypted: bool = False
    ca_file: str = ""

    @property
    def on_server(self) -> bool:
        return self.run_on == SERVER


def check_url(url: str, allow_unencrypted: bool = False) -> str:
    """``url`` as the engine is given it (the server's root, no trailing slash), or
    :class:`ServerSettingsError` saying what is wrong (the engine's own rule for an address, plus
    this one): plain ``http`` is refused unless the server is this computer or the user allowed an
    unencrypted connection, since the token and the CT would cross the network readable."""
    from saltseg.remote.address import check_server_url, is_loopback_host
    from saltseg.remote.errors import ServerError

    text = (url or "").strip()
    if not text:
        raise ServerSettingsError(f"Enter the SALT server's address, e.g. {EXAMPLE_URL}")
    try:
        checked = check_server_url(text)
    except ServerError as error:
        raise ServerSettingsError(_sentence(str(error))) from None
    host = urlsplit(checked).hostname or ""
    if checked.startswith("http://") and not allow_unencrypted and not is_loopback_host(host):
        raise ServerSettingsError(
            f"{checked} is not encrypted (http): the token and the CT would cross the network readable by "
            f"anyone on the way. Use https:// (the server started with a TLS certificate), or tick \"Allow "
            f"unencrypted connection\" if this network is trusted.")
    return checked


def check_ca_file(path: str) -> Optional[str]:
    """The certificate file to trust for the server (a self-signed one), or None: the system's."""
    text = (path or "").strip()
    if not text:
        return None
    if not Path(text).expanduser().is_file():
        raise ServerSettingsError(f"The server's certificate file {text} does not exist: choose the .pem file "
                                  f"the server's administrator gave, or leave the field empty.")
    return str(Path(text).expanduser())


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def check_token(token: str) -> str:
    text = (token or "").strip()
    if not text:
        raise ServerSettingsError("Enter the server's access token (the server's administrator gives it).")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ServerSettingsError("The token must not contain spaces or line breaks: paste it again.")
    return text


def _as_bool(value: Any) -> bool:
    """QSettings gives back a ``bool`` written by this process, ``"true"``/``"false"`` from the file."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def load(store: SettingsStore) -> ServerSettings:
    run_on = str(store.value(RUN_ON_SETTING, LOCAL) or LOCAL)
    return ServerSettings(run_on if run_on in RUN_ON_CHOICES else LOCAL,
                          str(store.value(SERVER_URL_SETTING, "") or ""),
                          str(store.value(SERVER_TOKEN_SETTING, "") or ""),
                          _as_bool(store.value(ALLOW_UNENCRYPTED_SETTING, False)),
                          str(store.value(SERVER_CA_FILE_SETTING, "") or ""))


def save(store: SettingsStore, settings: ServerSettings) -> None:
    """Store ``settings`` as typed (they are checked when used, so a half-typed address is kept);
    an empty token removes the stored one."""
    store.setValue(RUN_ON_SETTING, settings.run_on if settings.run_on in RUN_ON_CHOICES else LOCAL)
    store.setValue(SERVER_URL_SETTING, settings.url.strip())
    store.setValue(ALLOW_UNENCRYPTED_SETTING, bool(settings.allow_unencrypted))
    store.setValue(SERVER_CA_FILE_SETTING, settings.ca_file.strip())
    if settings.token.strip():
        store.setValue(SERVER_TOKEN_SETTING, settings.token.strip())
    else:
        store.remove(SERVER_TOKEN_SETTING)


def request_server(settings: ServerSettings) -> dict[str, str]:
    """The request's ``"server"`` field for ``settings`` (checked), whether or not they are the
    chosen place to run; :class:`ServerSettingsError` naming what to fix."""
    server = {"url": check_url(settings.url, settings.allow_unencrypted), "token": check_token(settings.token)}
    ca_file = check_ca_file(settings.ca_file)
    if ca_file is not None:
        server["ca_file"] = ca_file
    return server


def server_for_run(settings: ServerSettings) -> Optional[dict[str, str]]:
    """The ``"server"`` field of the next run: None to run on this computer."""
    return request_server(settings) if settings.on_server else None


def _same_server(a: str, b: str) -> bool:
    def key(url: str) -> str:
        try:
            return check_url(url, allow_unencrypted=True).lower()
        except ServerSettingsError:
            return url.strip().rstrip("/").lower()

    return bool(a.strip()) and key(a) == key(b)


def console_server(server: Any, token: Optional[str], store: Optional[SettingsStore]) -> Optional[dict[str, str]]:
    """``segment(server=..., token=...)`` of the console as the request's ``"server"``:
    ``None``/``False``: this computer; ``True``: the server saved in the module's settings; an
    address: that server, with ``token`` — or the token saved in the module, only when that is
    this very address (the secret never goes to another server)."""
    if server is None or server is False:
        return None
    saved = load(store) if store is not None else ServerSettings()
    if server is True:
        if not saved.url:
            raise ServerSettingsError("No SALT server is saved in the module: choose \"Run on: a SALT server\" "
                                      "there, or pass server=\"https://...\" and token=...")
        return request_server(replace(saved, run_on=SERVER, token=token or saved.token))
    if not isinstance(server, str):
        raise ServerSettingsError(f"server must be an address like {EXAMPLE_URL!r} (or True: the module's "
                                  f"server), got {type(server).__name__}")
    same = _same_server(saved.url, server)
    if not token and not (same and saved.token):
        raise ServerSettingsError(
            f"No token is saved for {server.strip()}: pass token=... or enter this server and its token under "
            f"\"Run on: a SALT server\" in the SALT Segmentation module.")
    chosen = ServerSettings(SERVER, server, token or saved.token, same and saved.allow_unencrypted,
                            saved.ca_file if same else "")
    return request_server(chosen)
