"""Print pip constraints pinning every declared runtime dependency at its floor (`>=X` -> `==X`).

CI installs these to prove the floors in pyproject.toml are real: the code imports and the fast
tests pass on the oldest versions we claim to support, not only on the newest pip picks.
Usage: python .ci/min_constraints.py [pyproject.toml] > constraints.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# name, optional [extras], then the lower bound; pip constraints take no extras, so they are dropped
_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def floors(pyproject: Path) -> list[str]:
    """One `name==floor` line per runtime dependency; refuses a dependency without a `>=` floor,
    since an unpinned one would silently be tested at its newest version."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    lines = []
    for dep in deps:
        match = _FLOOR.match(dep)
        if match is None:
            raise SystemExit(f"{pyproject}: dependency {dep!r} has no '>=' floor; give it one")
        lines.append(f"{match[1]}=={match[2]}")
    return lines


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "pyproject.toml"
    print("\n".join(floors(path)))
