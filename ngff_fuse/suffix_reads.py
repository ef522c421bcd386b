"""A zarr store on fsspec for object stores whose fsspec driver cannot read the last N bytes of
an object: adlfs (az://, abfs://) hands a negative offset to the Azure SDK, which fails with
"Required Content-Range response header is missing or malformed" (Azure Blob Storage has no
suffix range). zarr reads a shard's index that way, so `validate`, `preview`, `--resume` and
every reader of a sharded store failed on Azure. Here the size is asked first (one HEAD) and
the suffix read as an offset read.
"""

from __future__ import annotations

from zarr.abc.store import ByteRequest, OffsetByteRequest, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import FsspecStore


class SuffixByOffsetStore(FsspecStore):
    """`FsspecStore` whose suffix reads are offset reads from the object's size."""

    async def get(self, key: str, prototype: BufferPrototype,
                  byte_range: ByteRequest | None = None) -> Buffer | None:
        if isinstance(byte_range, SuffixByteRequest):
            try:
                size = await self.getsize(key)
            except FileNotFoundError:
                return None
            byte_range = OffsetByteRequest(max(0, size - byte_range.suffix))
        return await super().get(key, prototype, byte_range)
