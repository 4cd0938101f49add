"""How other models' structures land in SALT's tree: per scheme (and per value map), how many
structures sit on nodes of SALT's published tree and how many on nodes the organised tree added.
Prints the table the README quotes.

    python benchmarks/organize_schemes.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "SALTSegmentation"))

from saltseg.organize.codes import code_table  # noqa: E402
from saltseg.organize.extended_tree import is_salt_node, organised_tree  # noqa: E402
from saltseg.organize.schemes import builtin_scheme, salt_base_tree  # noqa: E402


def row(label: str, paths) -> str:
    paths = list(paths)
    existing = sum(1 for path in paths if is_salt_node(path))
    return f"| {label} | {len(paths)} | {existing} | {len(paths) - existing} |"


def main() -> None:
    base, tree = salt_base_tree(), organised_tree()
    print(f"SALT's tree: {len(base)} nodes, {len(base.leaves)} leaves; organised tree: {len(tree)} nodes, "
          f"{len(tree.leaves)} leaves (+{len(tree) - len(base)} nodes, +{len(tree.leaves) - len(base.leaves)} leaves)")
    print()
    print("| scheme / value map | structures | on SALT's nodes | on new nodes |")
    print("|---|---|---|---|")
    for scheme_id in ("totalsegmentator", "cads"):
        scheme = builtin_scheme(scheme_id)
        for task, values in scheme.tasks.items():
            print(row(f"{scheme_id} {task}", (scheme.path_for(name) for name in values.values())))
        print(row(f"{scheme_id} (all names)", scheme.structures.values()))
    print(row("salt (leaves)", set(builtin_scheme("salt").structures.values())))
    print(row("snomed (codes)", code_table().values()))


if __name__ == "__main__":
    main()
