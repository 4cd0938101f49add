"""The module's user-facing strings in the user's language, through Slicer's translation functions
(``slicer.i18n``, Slicer 5.4 and later), called as Slicer's own scripted modules call them::

    from SALTSegmentationLib.i18n import _, translate

    parent.title = _("SALT Segmentation")
    parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
    message = _("Delete the installed model {model_id}?").format(model_id=model_id)

``_`` translates in the context of the file that calls it, exactly as ``slicer.i18n.tr`` does
(the context is that file's name, prefixed by its package: ``SALTSegmentation``,
``widgets.controller``), so Slicer's translation tools, which extract ``_("...")`` per file, and
translations made for them apply unchanged. Placeholders are filled after translating, so a
translator sees ``{model_id}``, never a value. Where ``slicer.i18n`` is missing (the headless
slicer-core wheel the tests use, Slicer before 5.4) the English text is returned as it is.
"""
from __future__ import annotations

import logging
import re
import sys
from functools import lru_cache
from typing import Callable, Optional


@lru_cache(maxsize=1)
def _slicer_i18n() -> Optional[tuple[Callable[[str], str], Callable[[str, str], str]]]:
    """Slicer's (getContext, translate), or None without them; looked up once."""
    try:
        from slicer.i18n import getContext, translate as slicer_translate
    except ImportError:
        return None
    return getContext, slicer_translate


def _(text: str) -> str:
    """``text`` translated in the calling file's context (``slicer.i18n.tr``)."""
    functions = _slicer_i18n()
    if functions is None:
        return text
    get_context, slicer_translate = functions
    context = get_context(sys._getframe(1).f_code.co_filename)
    return _checked(context, text, slicer_translate(context, text))


def translate(context: str, text: str) -> str:
    """``text`` translated in ``context`` (``slicer.i18n.translate``), e.g. a module category in
    ``qSlicerAbstractCoreModule``, where Slicer keeps the category names."""
    functions = _slicer_i18n()
    return text if functions is None else _checked(context, text, functions[1](context, text))


#: A ``{placeholder}`` (not a ``{{literal brace}}``), as ``slicer.i18n.tr`` finds them.
_PLACEHOLDER = re.compile(r"(?<!\{)\{([^\{\}]+)\}(?!\})")


def _checked(context: str, text: str, translated: str) -> str:
    """``translated``, or ``text`` when their placeholders differ (as ``slicer.i18n.tr`` does: a
    translation that renamed ``{count}`` would fail at ``.format``)."""
    if set(_PLACEHOLDER.findall(text)) != set(_PLACEHOLDER.findall(translated)):
        logging.getLogger(__name__).warning("In context %r, the translation of %r has other placeholders: "
                                            "not used", context, text)
        return text
    return translated
