"""The NGFF versions ngff-fuse writes, by name: what `--ngff` offers. Apart from `metadata`,
which imports ome-zarr (and with it dask and zarr), so the CLI's parser stays light."""

NGFF_VERSIONS = ("0.4", "0.5", "0.6")
