"""Registration: refine stage positions from the image content of the tile overlaps.

    registration = register(tileset, channel=0)        # reads only the overlaps
    mosaic = fuse(registration.tileset)                 # same tiles, refined translations
    write_positions(registration, "positions.json")     # or .txt (Fiji TileConfiguration)
    qc_plot(registration, "registration.png")
    tileset = apply_positions(tileset, "positions.json")  # reuse them later
"""

from ngff_fuse.register.positions_file import apply_positions, write_positions
from ngff_fuse.register.qc_plot import qc_plot
from ngff_fuse.register.registration import LinkResult, Registration, TileCorrection, register

__all__ = [
    "LinkResult", "Registration", "TileCorrection", "apply_positions", "qc_plot", "register",
    "write_positions",
]
