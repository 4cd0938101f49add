"""The module's "Run on: this computer / a SALT server" choice, without Qt: the settings the panel
edits (kept in Slicer's settings, :mod:`..processes.server_settings`), the ``"server"`` a run's
request carries, the server's model list (asked through an engine process, never on Slicer's main
thread) and what a user reads when the server cannot be used. The module controller holds one
(``controller.location``); the Qt panel (:mod:`.server_panel`) only shows it and forwards edits.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Protocol, Sequence

from ..i18n import _
from ..processes.engine_session import EngineSession
from ..processes.model_registry import ModelChoice, server_model_choices
from ..processes.process_runner import ProcessRunner
from ..processes.server_models import ModelsQuery
from ..processes.server_settings import (ServerSettings, ServerSettingsError, SettingsStore, load,
                                         request_server, save)

logger = logging.getLogger(__name__)

#: The server computes on its own device: the only choice shown while running there.
SERVER_DEVICES = ({"name": "auto", "available": True, "reason": _("The SALT server computes on its own device.")},)
#: Seconds the engine process that asks servers for their models stays ready for the next question.
QUERY_IDLE_TIMEOUT = 60.0


class RunLocationView(Protocol):
    def show_run_location(self, settings: ServerSettings) -> None:
        """Fill the panel's fields; show the server's fields only when running there."""

    def set_server_problem(self, text: str) -> None:
        """What keeps the server from being used ("" when nothing does)."""

    def set_model_management(self, enabled: bool) -> None:
        """Download/install/delete act on this computer's models: off while running on a server."""


def server_error_text(error: BaseException) -> str:
    """``error`` (from a run or a model list on a server) as a user reads it in the module: the
    engine's message, plus where in the module to fix it."""
    from saltseg.remote.errors import ServerAuthError, ServerUnreachableError

    text = str(error)
    text = text[:1].upper() + text[1:]
    if isinstance(error, ServerAuthError):
        return text + ("" if text.endswith(".") else ".") + " " + _(
            "Check the token under \"Run on: a SALT server\" (the server's administrator gives it).")
    if isinstance(error, ServerUnreachableError) and "certificate" in text:
        return text.replace("give its certificate with --ca-file (or SSL_CERT_FILE)",
                            _("choose the server's certificate file (.pem) under \"Run on: a SALT server\""))
    if isinstance(error, ServerUnreachableError):
        return text + ("" if text.endswith(".") else ".") + " " + _("Check the server address and your network.")
    return text


class RunLocation:
    def __init__(self, store: Optional[SettingsStore], runner_factory: Callable[[], ProcessRunner], python: str,
                 show_models: Callable[[Sequence[ModelChoice], Sequence[dict]], None],
                 status: Callable[[str], None], refresh_models: Callable[[], None]) -> None:
        #: Slicer's settings (``qt.QSettings()``); None: always this computer (scripts, tests).
        self.store = store
        self._session_factory = lambda: EngineSession(runner_factory, QUERY_IDLE_TIMEOUT, python)
        self._session: Optional[EngineSession] = None
        self._show_models = show_models
        self._status = status
        self._refresh_models = refresh_models
        self.view: Optional[RunLocationView] = None
        self.query: Optional[ModelsQuery] = None
        #: What the model list shown was read for (a new list only when that changes).
        self._listed: Optional[tuple] = None

    # ------------------------------------------------------------------ settings
    @property
    def settings(self) -> ServerSettings:
        return load(self.store) if self.store is not None else ServerSettings()

    @property
    def on_server(self) -> bool:
        return self.settings.on_server

    def attach(self, view: RunLocationView) -> None:
        self.view = view
        settings = self.settings
        view.show_run_location(settings)
        view.set_server_problem(self.problem(settings))
        view.set_model_management(not settings.on_server)

    def problem(self, settings: Optional[ServerSettings] = None) -> str:
        """Why the chosen server cannot be used as set ("" when it can, or when running here)."""
        settings = settings or self.settings
        if not settings.on_server:
            return ""
        try:
            request_server(settings)
        except ServerSettingsError as error:
            return str(error)
        return ""

    def apply(self, settings: ServerSettings, refresh: bool = True) -> str:
        """The panel's fields were edited: keep them (also half-typed ones) and, with ``refresh``
        (editing finished), read the model list again if it came from elsewhere. Returns the
        problem shown, "" when none."""
        if self.store is None:
            raise ServerSettingsError("These settings cannot be kept here (no Slicer settings).")
        save(self.store, settings)
        settings = self.settings
        problem = self.problem(settings)
        if self.view is not None:
            self.view.set_server_problem(problem)
            self.view.set_model_management(not settings.on_server)
        if refresh and _list_key(settings) != self._listed:
            self._refresh_models()
        return problem

    def server_for_run(self) -> Optional[dict]:
        """The ``"server"`` of the next run's request (None: this computer);
        :class:`ServerSettingsError` naming what to fix."""
        settings = self.settings
        return request_server(settings) if settings.on_server else None

    # ------------------------------------------------------------------ the server's models
    def listed_local(self) -> None:
        """The controller reads this computer's model list."""
        self._forget_query()
        self._listed = _list_key(self.settings)

    def refresh_models(self) -> None:
        """Ask the chosen server for its models, in an engine process; the list (or why there is
        none) is shown when the answer comes."""
        settings = self.settings
        self._forget_query()
        self._listed = _list_key(settings)
        try:
            server = request_server(settings)
        except ServerSettingsError as error:
            self._show_models([], SERVER_DEVICES)
            self._status(str(error))
            return
        self._status(_("Reading the models of {url}…").format(url=server["url"]))
        logger.info("asking %s for its models", server["url"])
        if self._session is None:
            self._session = self._session_factory()
        self.query = ModelsQuery(self._session, server, on_done=self._models_listed)
        self.query.start()

    def _models_listed(self, query: ModelsQuery) -> None:
        if query is not self.query:
            return
        self.query = None
        if query.error is not None:
            text = _("Could not read the models of {url}: {error}").format(url=query.url,
                                                                           error=server_error_text(query.error))
            self._show_models([], SERVER_DEVICES)
            self._status(text)
            if self.view is not None:
                self.view.set_server_problem(text)
            return
        choices = server_model_choices(query.models, query.url, query.default)
        self._show_models(choices, SERVER_DEVICES)
        if not choices:
            text = _("The SALT server {url} offers no model.")
        else:
            text = _("1 model on the SALT server {url}.") if len(choices) == 1 else \
                _("{count} models on the SALT server {url}.")
        self._status(text.format(count=len(choices), url=query.url))

    def _forget_query(self) -> None:
        query, self.query = self.query, None
        if query is not None:
            query.forget()

    def shutdown(self) -> None:
        """The module closes: no answer reaches it any more, and the asking process ends."""
        self._forget_query()
        session, self._session = self._session, None
        if session is not None:
            session.stop()


def _list_key(settings: ServerSettings) -> tuple:
    if not settings.on_server:
        return (settings.run_on,)
    return (settings.run_on, settings.url.strip(), settings.token.strip(), settings.allow_unencrypted,
            settings.ca_file.strip())
