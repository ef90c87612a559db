"""Which of K partitions a conversation's messages travel on: a stable hash, the same in
every process and every run (never Python's salted `hash()`)."""

from __future__ import annotations

import zlib


def partition_of(key: str, partitions: int) -> int:
    """The partition (0..partitions-1) of an ordering key; crc32 of its UTF-8 bytes
    (lone surrogates kept), so every replica picks the same queue for one conversation."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, not {partitions}")
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % partitions


def subscription_order(partitions: int, start: int) -> list[int]:
    """The partitions in the order one replica subscribes to them, beginning at `start`
    (each replica a different one), so with single-active-consumer queues the replicas
    that start together become active on different partitions."""
    return [(start + i) % partitions for i in range(partitions)]
