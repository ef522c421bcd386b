"""Illumination correction: flat-field and dark-field profiles shared by all tiles, and per-tile
gains and offsets, estimated from the tiles themselves and applied inside the fusion tasks.

A tile pixel x of channel c reads raw = g * F_c(x) * truth + D_c(x) (vignetting F, camera dark
offset D, a tile's own gain g from lamp drift or bleaching); `Correction` maps it back to
(raw - D) / F, then gain and offset per tile, on exactly the regions the fusion reads.

Import from the modules (`options`, `estimate`, `equalize`, `correct`, `profiles`): this
package imports none of them, so a conversion without a correction pays for none (scipy's
solvers and filters).
"""
