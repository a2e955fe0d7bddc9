"""Java ``HashMap``/``HashSet`` iteration order, so differences come out in Confluent's order.

Confluent's SchemaDiff walks property names through ``java.util.HashSet``. Its iteration order
is the bucket order (``hash & (capacity - 1)``) and, within a bucket, insertion order; on a
resize the buckets split but keep their relative order. So the final order is a stable sort of
the insertion sequence by bucket index at the final capacity.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

__all__ = ["hashmap_order", "hashset_union_order", "int_hashset_union_order", "java_string_hash"]

_DEFAULT_CAPACITY = 16
_LOAD_FACTOR = 0.75


@lru_cache(maxsize=65536)
def java_string_hash(text: str) -> int:
    """``String.hashCode()`` as an unsigned 32-bit int (over UTF-16 code units)."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h


def _spread(h: int) -> int:
    return h ^ (h >> 16)


def _table_size_for(capacity: int) -> int:
    n = 1
    while n < capacity:
        n <<= 1
    return n


def _ordered(keys: list[str], capacity: int) -> list[str]:
    while len(keys) > capacity * _LOAD_FACTOR:
        capacity <<= 1
    mask = capacity - 1
    return sorted(keys, key=lambda k: _spread(java_string_hash(k)) & mask)


def _dedup(keys: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for key in keys:
        seen.setdefault(key, None)
    return list(seen)


def hashmap_order(keys: Iterable[str]) -> list[str]:
    """Iteration order of a default ``HashMap`` after putting ``keys`` in this order."""
    return _ordered(_dedup(keys), _DEFAULT_CAPACITY)


def hashset_union_order(first: Iterable[str], second: Iterable[str]) -> list[str]:
    """Order of ``new HashSet<>(first)`` followed by ``addAll(second)``."""
    return list(_union_order(tuple(first), tuple(second)))


@lru_cache(maxsize=4096)
def _union_order(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    head = _dedup(first)
    capacity = _table_size_for(max(int(len(head) / _LOAD_FACTOR) + 1, _DEFAULT_CAPACITY))
    return tuple(_ordered(_dedup([*head, *second]), capacity))


def _int_bucket_order(keys: list[int], capacity: int) -> list[int]:
    while len(keys) > capacity * _LOAD_FACTOR:
        capacity <<= 1
    mask = capacity - 1
    return sorted(keys, key=lambda k: _spread(k & 0xFFFFFFFF) & mask)


def int_hashset_union_order(first: Iterable[int], second: Iterable[int]) -> list[int]:
    """Order of ``new HashSet<Integer>(first)`` then ``addAll(second)`` (``first`` and
    ``second`` each in the iteration order of the default ``HashMap`` they came from)."""
    head = list(dict.fromkeys(_int_bucket_order(list(dict.fromkeys(first)), _DEFAULT_CAPACITY)))
    tail = _int_bucket_order(list(dict.fromkeys(second)), _DEFAULT_CAPACITY)
    capacity = _table_size_for(max(int(len(head) / _LOAD_FACTOR) + 1, _DEFAULT_CAPACITY))
    return _int_bucket_order(list(dict.fromkeys([*head, *tail])), capacity)
