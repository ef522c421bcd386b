"""The package reads as the data flows: no module imports from a later stage.

Stages, in import order (a module may import its own stage and earlier ones):

    foundation -> model -> ngff format -> readers -> plan -> fuse -> pyramid -> writer
    -> illumination -> api -> cli

`ngff/` here is the format's vocabulary (versions, keys, transforms), which both the kept-tiles
reader and the writer speak, so it sits below the readers; it never imports them. Beyond the
order, the fusion core and the output side never import a reader (they work on the model):
`NEVER`. Every module is given its stage explicitly: a new module fails this test until it is
placed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ngff_fuse

PACKAGE = Path(ngff_fuse.__file__).parent

# (stage, module prefixes); a module belongs to its longest matching prefix.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("_axes", "errors", "console", "version", "progress", "transforms", "boxes",
                    "fingerprint", "zarr_check", "storage", "byte_ranges", "suffix_reads", "stage_clock")),
    ("model", ("model",)),
    ("ngff format", ("ngff", "ome_xml")),
    ("readers", ("readers",)),
    # geometry before any pixel is fused: the plan, registration, orientation, their reports
    ("plan", ("fuse.plan", "register", "checks", "describe", "orientation", "layout_plot")),
    ("fuse", ("fuse",)),
    ("pyramid", ("pyramid",)),
    ("writer", ("writer", "pyramid_writer", "kept_tiles_writer", "codecs", "gzip_codecs", "output", "output_lock",
                "validate", "preview")),
    # flat-field estimation and correction: reads tiles through the fusion's pixel access and
    # writes its profiles as images; fusion itself only takes its per-tile transform
    ("illumination", ("illumination",)),
    # the library's front door and the synthetic acquisitions the CLI's demo writes
    ("api", ("", "convert", "cluster", "testing")),
    # the front ends: the command line and the napari plugin (readers, widget)
    ("cli", ("cli", "napari")),
    # runs the CLI with a crash injected, for the kill-and-resume tests: above the CLI
    ("script", ("testing.crash",)),
]
# stages that may not import a given earlier stage either
NEVER = {"fuse": {"readers"}, "pyramid": {"readers"}, "writer": {"readers"}}
RANK = {prefix: rank for rank, (_, prefixes) in enumerate(STAGES) for prefix in prefixes}


def module_name(path: Path) -> str:
    """Dotted name under ngff_fuse ("" for the package itself)."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage_of(module: str) -> int | None:
    """Rank of the stage whose longest prefix matches `module`; None when none is declared."""
    matches = [p for p in RANK if module == p or (p and module.startswith(p + "."))]
    if not matches:
        return RANK[""] if module == "" else None
    return RANK[max(matches, key=len)]


def imported(path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """(line, module under ngff_fuse) of every import in `path`, lazy ones inside functions
    included. `from ngff_fuse.x import y` names the module x.y when y is one, else x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}".removeprefix(
                "ngff_fuse.") in modules else node.module for alias in node.names]
        else:
            assert not (isinstance(node, ast.ImportFrom) and node.level), \
                f"{path}:{node.lineno}: relative import; import by absolute name"
            continue
        found += [(node.lineno, name) for name in names
                  if name == "ngff_fuse" or name.startswith("ngff_fuse.")]
    return [(line, name.removeprefix("ngff_fuse").removeprefix(".")) for line, name in found]


def _all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_stage():
    unplaced = [name for name in _all_modules() if stage_of(name) is None]
    assert not unplaced, f"give these modules a stage in STAGES: {unplaced}"


def test_no_module_imports_from_a_later_stage():
    modules = _all_modules()
    back_edges = []
    for name, path in modules.items():
        rank = stage_of(name)
        for line, target in imported(path, set(modules)):
            target_rank = stage_of(target)
            if rank is None or target_rank is None:
                continue
            if target_rank > rank or STAGES[target_rank][0] in NEVER.get(STAGES[rank][0], ()):
                back_edges.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: ngff_fuse.{name or '__init__'} "
                    f"({STAGES[rank][0]}) imports ngff_fuse.{target or '__init__'} "
                    f"({STAGES[target_rank][0]})"
                )
    assert not back_edges, "imports against the flow (or into readers from the core):\n" + "\n".join(back_edges)


def test_the_checker_sees_a_back_edge(tmp_path):
    """The oracle for the test above: a reader importing the writer is found, a lazy one too."""
    bad = tmp_path / "bad.py"
    bad.write_text("from ngff_fuse.model import TileSet\n"
                   "def f():\n    from ngff_fuse.writer import write_ngff\n"
                   "import ngff_fuse.fuse.core as core\n", encoding="utf-8")
    found = imported(bad, set(_all_modules()))
    assert sorted(found) == [(1, "model"), (3, "writer"), (4, "fuse.core")]
    assert stage_of("readers.czi") < stage_of("writer") and stage_of("fuse.plan") < stage_of("fuse.core")
    assert stage_of("") < stage_of("cli") and stage_of("ngff.groups") < stage_of("readers.kept_tiles")
    assert "readers" in NEVER[STAGES[stage_of("kept_tiles_writer")][0]]
