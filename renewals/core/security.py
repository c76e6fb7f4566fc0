"""Password hashing (Argon2 through pwdlib), and how guessable a configured secret is."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher.verify(password, password_hash)


def _bits_per_symbol(symbols: Sequence[object]) -> float:
    counts = Counter(symbols)
    return -sum(n / len(symbols) * math.log2(n / len(symbols)) for n in counts.values())


def estimated_entropy_bits(secret: str) -> float:
    """A cautious estimate of a secret's randomness: the information in its characters and in the
    steps between them (whichever is less: a run like `abcd…` has many characters but one step),
    over its shortest repeating unit. Length alone is no measure: 32 identical characters carry
    none. Random secrets score a little under their true entropy (64 hex characters ~220 bits)."""
    if len(secret) < 2:
        return 0.0
    unit = next(p for p in range(1, len(secret) + 1)
                if all(secret[i] == secret[i % p] for i in range(len(secret))))
    steps = [ord(b) - ord(a) for a, b in zip(secret, secret[1:])]
    return min(_bits_per_symbol(secret), _bits_per_symbol(steps)) * unit
