"""Deterministic, Stripe-like object ids derived from (seed, kind, entity key) by hashing.

Ids are a pure function of the seed and the shop entity they belong to, so `generate` and
`simulate` agree on the id of an object whichever of them creates it, and nothing but the
lifecycle has to be stored to find the charge of an order later.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
# Each hashed byte picks a character: (byte * 62) >> 8 is close enough to uniform here.
_CHAR_OF_BYTE = BASE62[(np.arange(256) * 62) >> 8]
ID_CHARS = 24
_WORDS = 3  # hashed 64-bit words, one character per byte

# Sub-keys of one order's objects; the entity key is order_id * KEY_STRIDE + slot.
KEY_STRIDE = 16
SLOT_CHARGE_TXN, SLOT_REFUND_TXN, SLOT_DISPUTE_TXN, SLOT_REVERSAL_TXN = 0, 1, 2, 3
SLOT_REFUNDED_EVT, SLOT_DISPUTE_CREATED_EVT = 4, 5
SLOT_DISPUTE_UPDATED_EVT, SLOT_DISPUTE_CLOSED_EVT = 6, 7
SLOT_ATTEMPT_EVT = 8  # + attempt number (0..2)


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fast, well-distributed bijection on uint64."""
    x = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def entity_hash(seed: int, kind: str, keys: np.ndarray) -> np.ndarray:
    """A uint64 per key, different for every (seed, kind) pair."""
    salt = mix64(np.array([(seed << 32) ^ zlib.crc32(kind.encode())], dtype=np.uint64))
    return mix64(np.asarray(keys).astype(np.uint64) ^ salt)


def uniform(seed: int, kind: str, keys: np.ndarray) -> np.ndarray:
    """A reproducible U[0, 1) per key: per-entity attributes that need not be stored."""
    return (entity_hash(seed, kind, keys) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def stripe_ids(seed: int, prefix: str, keys: np.ndarray, kind: str | None = None) -> pa.Array:
    """`prefix_` + 24 base62 characters per key, e.g. ch_3Nq2…, as a pyarrow string array.
    `kind` separates key spaces that share a prefix (events of orders and of customers)."""
    keys = np.asarray(keys)
    head = np.frombuffer(f"{prefix}_".encode(), np.uint8)
    base = entity_hash(seed, kind or prefix, keys)
    words = np.stack([mix64(base ^ np.uint64(word + 1)) for word in range(_WORDS)], axis=1)
    random_bytes = words.view(np.uint8).reshape(len(keys), _WORDS * 8)
    chars = np.empty((len(keys), len(head) + ID_CHARS), np.uint8)
    chars[:, : len(head)] = head
    chars[:, len(head) :] = np.take(_CHAR_OF_BYTE, random_bytes)
    as_bytes = chars.view(f"S{chars.shape[1]}").ravel()
    return pa.array(as_bytes, type=pa.binary()).cast(pa.string())
