"""No network contact from the engine: the libraries it loads send no usage data of their own.

``import openvino`` imports ``openvino.tools.ovc``, which, when the ``openvino-telemetry``
package (a dependency of the ``openvino`` wheel) can be imported, counts every import under
``~/intel`` and sends it to Google Analytics from a forked process, unless a consent file or a CI
variable says no. Hospitals do not accept an unannounced connection, and a fork of this
multi-threaded process can deadlock and outlive the engine. OpenVINO falls back to its own no-op
stub when the package cannot be imported; a ``None`` entry in ``sys.modules`` makes every import of
it fail, in this process and in those it forks, on every OS, without touching the user's consent
files. Call :func:`switch_off_telemetry` before importing such a library.
"""
from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)

#: Telemetry packages that libraries use when they are importable (library → package).
TELEMETRY_MODULES = {"openvino": "openvino_telemetry"}


def switch_off_telemetry() -> None:
    """Make the telemetry packages unimportable in this process (and the ones it forks)."""
    for library, module in TELEMETRY_MODULES.items():
        if sys.modules.get(module) is not None:
            # Imported by someone before us: what it sent at that import cannot be undone.
            logger.warning("%s was loaded before saltseg switched its telemetry off; it may already "
                           "have sent usage data", module)
        # None in sys.modules makes a module unimportable (documented); typeshed allows modules only
        sys.modules[module] = None  # type: ignore[assignment]
        logger.debug("%s telemetry off (%s made unimportable)", library, module)
