"""The structure chooser's behaviour without Qt: which structures a Segment run keeps.

Every node of the tree has a check box; checking a node checks its subtree, and a node whose
children are partly checked shows "partial". All checked (the default) means no subset. The chosen
structures are the largest fully checked subtrees, named by their node name where that name is
unique in the tree (so a choice made on the published tree also resolves in another model's tree
with the same names, such as the demo model's), by their tree path otherwise.
"""
from __future__ import annotations

from typing import Iterable, Optional

from saltseg.tree.labeltree import LabelTree

from ..i18n import _
from ..scene.tree_model import CheckState


class StructureChoice:
    def __init__(self, tree: LabelTree) -> None:
        self.tree = tree
        background = tree.background_value
        self._background = None if background is None else tree.leaf_for_value(background)
        #: Leaves that are checked; an internal node's state follows its leaves.
        self._checked: set[int] = {leaf for leaf in tree.leaves if leaf != self._background}
        self._name_count: dict[str, int] = {}
        for path in tree.paths:
            self._name_count[path[-1]] = self._name_count.get(path[-1], 0) + 1

    def nodes(self, parent: Optional[int] = None) -> list[int]:
        """Children of ``parent`` (None: the top level) shown in the chooser (no background)."""
        return [n for n in self.tree.children(parent) if n != self._background]

    def _leaves(self, node: int) -> set[int]:
        return {n for n in self.tree.subtree(node) if self.tree.is_leaf(n) and n != self._background}

    def check_state(self, node: int) -> CheckState:
        leaves = self._leaves(node)
        chosen = len(leaves & self._checked)
        if chosen == 0:
            return CheckState.UNCHECKED
        return CheckState.CHECKED if chosen == len(leaves) else CheckState.PARTIAL

    def set_checked(self, node: int, checked: bool) -> None:
        if checked:
            self._checked |= self._leaves(node)
        else:
            self._checked -= self._leaves(node)

    def set_all(self, checked: bool) -> None:
        for node in self.nodes(None):
            self.set_checked(node, checked)

    def choose(self, names: Iterable[str]) -> None:
        """Check exactly these structures (tree paths or node names), e.g. from saved settings."""
        from saltseg.analysis.subsets import resolve_structures

        self.set_all(False)
        for node in resolve_structures(self.tree, names):
            self.set_checked(node, True)

    def _name(self, node: int) -> str:
        name = self.tree.path(node)[-1]
        return name if self._name_count[name] == 1 else self.tree.node_id(node)

    def chosen_nodes(self) -> list[int]:
        """The largest fully checked subtrees, in tree order."""
        chosen: list[int] = []

        def visit(parent: Optional[int]) -> None:
            for node in self.nodes(parent):
                state = self.check_state(node)
                if state == CheckState.CHECKED:
                    chosen.append(node)
                elif state == CheckState.PARTIAL:
                    visit(node)

        visit(None)
        return chosen

    def structures(self) -> Optional[list[str]]:
        """What ``logic.segment(structures=...)`` gets: None when everything is checked."""
        chosen = self.chosen_nodes()
        if [self.check_state(n) for n in self.nodes(None)] == [CheckState.CHECKED] * len(self.nodes(None)):
            return None
        return [self._name(node) for node in chosen]

    def summary(self) -> str:
        structures = self.structures()
        if structures is None:
            return _("All structures")
        if not structures:
            return _("No structure chosen")
        names = [self.tree.display_name(n) for n in self.chosen_nodes()]
        return (_("{count} structures: {names}").format(count=len(self._checked), names=", ".join(names[:4]))
                + (" …" if len(names) > 4 else ""))
