#!/usr/bin/env python3
"""Writes shared/tests/vectors/buckets.json: golden bucketing vectors for hash_version 1.

Computed with PyPI's `mmh3` (an independent MurmurHash3 implementation, C), not with our code:
hash = mmh3.hash(unit_id_bytes + hash_id_bytes, seed=1, signed=False),
bucket = floor(hash * 10000 / 2**32).

Run: python3 -m pip install mmh3==5.3.1 && python3 scripts/bucket_vectors.py
"""
import json
import os

import mmh3

CASES = [
    ("", ""),
    ("", "exp"),
    ("user-1", ""),
    ("a", "b"),
    ("user-1", "hero-headline"),
    ("user-2", "hero-headline"),
    ("user-3", "hero-headline"),
    ("42", "8231940712"),
    ("visitor_0001", "checkout-button"),
    ("3f2b8c1e-8d1a-4c1e-9b7e-2f0c5a9d1e77", "pricing-students"),
    ("3f2b8c1e-8d1a-4c1e-9b7e-2f0c5a9d1e77", "edgewise-holdout"),
    ("ab", "c"),
    ("abc", ""),
    ("abcd", ""),
    ("abcde", ""),
    ("Zoë", "test"),
    ("müller@example.de", "checkout"),
    ("日本語のユーザー", "実験"),
    ("用户-007", "首页标题"),
    ("emoji-🚀-user", "launch-🎉"),
    ("Ωmega", "ΔΣ"),
    ("x" * 100, "long"),
    ("y" * 300, "longer-than-the-stack-buffer"),
    ("tab\tand space", "odd id"),
    ("😀", ""),
    ("é", "é"),
]


def vector(unit_id, hash_id):
    data = unit_id.encode("utf-8") + hash_id.encode("utf-8")
    h = mmh3.hash(data, seed=1, signed=False)
    return {"unit_id": unit_id, "hash_id": hash_id, "hash": h, "bucket": h * 10000 // 2**32}


def main():
    vectors = [vector(u, t) for u, t in CASES]
    vectors += [vector(f"user-{i}", "ramp-test") for i in range(0, 1000, 37)]
    out = os.path.join(os.path.dirname(__file__), "..", "shared", "tests", "vectors", "buckets.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"generator": "PyPI mmh3 5.3.1, murmur3 x86_32, seed 1", "vectors": vectors}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(vectors)} vectors to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
