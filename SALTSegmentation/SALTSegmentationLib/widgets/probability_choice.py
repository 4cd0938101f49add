"""Which tree nodes get a probability map of their own (*Output → Probability maps*), without Qt.

The structure chooser's rules (:class:`.structure_chooser.StructureChoice`): checking a node checks
its subtree. Here each fully checked subtree is *one* map — the node's probability (for an internal
node, the sum of its leaves': "spine" is one map, not one per vertebra). Nothing is checked at
first: the confidence map alone, which every structure's heat map and *Sure %* can use.
"""
from __future__ import annotations

from typing import Iterable

from saltseg.errors import TreeError
from saltseg.tree.labeltree import LabelTree

from ..i18n import _
from .structure_chooser import StructureChoice


class MapChoice(StructureChoice):
    def __init__(self, tree: LabelTree) -> None:
        super().__init__(tree)
        self.set_all(False)

    def names(self) -> list[str]:
        """The chosen nodes as the job's ``probabilities`` (names where unique, else tree paths)."""
        return [self._name(node) for node in self.chosen_nodes()]

    def restore(self, names: Iterable[str]) -> list[str]:
        """Check exactly ``names`` (saved with the scene); returns those this tree does not know
        (left unchecked)."""
        self.set_all(False)
        unknown = []
        for name in names:
            try:
                self.choose_more([name])
            except TreeError:
                unknown.append(name)
        return unknown

    def choose_more(self, names: Iterable[str]) -> None:
        from saltseg.analysis.subsets import resolve_structures

        for node in resolve_structures(self.tree, names):
            self.set_checked(node, True)

    def summary(self) -> str:
        names = [self.tree.display_name(node) for node in self.chosen_nodes()]
        if not names:
            return _("The confidence map only (check structures below for maps of their own).")
        shown = ", ".join(names[:4]) + (" …" if len(names) > 4 else "")
        text = (_("The confidence map and 1 map of its own: {names}") if len(names) == 1 else
                _("The confidence map and {count} maps of their own: {names}"))
        return text.format(count=len(names), names=shown)
