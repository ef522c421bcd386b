"""NGFF (OME-Zarr) in one place: the version formats and image metadata (`metadata`), the
coordinate transformations (`transforms`), and the keys and group helpers every reader and
writer of our stores shares (`groups`)."""
