"""hnswlib, the peer of workload 10: the same vectors, queries and ground truth as Sutra, one
thread. Builds an index (M and ef_construction given), then for each search effort `ef` runs
every query (one batch call on one thread, hnswlib's fastest way to search) REPEATS times,
keeping the fastest, and measures recall@10 against the exact top ten. Prints one JSON object
on stdout.

Usage: hnswlib_peer.py VECTORS QUERIES TRUTH DIM M EF_CONSTRUCTION EF[,EF...] REPEATS
VECTORS and QUERIES are little-endian f32 rows of DIM components; TRUTH is little-endian u32
rows of ten row numbers of VECTORS, best first.
"""

import json
import sys
import time

import hnswlib  # type: ignore[import-untyped]  # (hnswlib ships no type information)
import numpy as np


def main() -> None:
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    vectors_path, queries_path, truth_path = sys.argv[1:4]
    dim, m, ef_construction = (int(a) for a in sys.argv[4:7])
    efs = [int(e) for e in sys.argv[7].split(",")]
    repeats = int(sys.argv[8])
    vectors = np.fromfile(vectors_path, dtype="<f4").reshape(-1, dim)
    queries = np.fromfile(queries_path, dtype="<f4").reshape(-1, dim)
    truth = np.fromfile(truth_path, dtype="<u4").reshape(-1, 10)
    if len(truth) != len(queries):
        sys.exit(f"{len(queries)} queries but {len(truth)} rows of truth")

    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=len(vectors), ef_construction=ef_construction, M=m, random_seed=100)
    index.set_num_threads(1)
    started = time.perf_counter()
    index.add_items(vectors, np.arange(len(vectors)), num_threads=1)
    build_per_s = len(vectors) / (time.perf_counter() - started)

    curve = []
    for ef in efs:
        index.set_ef(ef)
        per_s = 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            labels, _ = index.knn_query(queries, k=10, num_threads=1)
            per_s = max(per_s, len(queries) / (time.perf_counter() - started))
        found = sum(len(set(row.tolist()) & set(t.tolist())) for row, t in zip(labels, truth))
        curve.append({"ef": ef, "recall": found / (10 * len(queries)), "per_s": per_s})
    print(json.dumps({"build_per_s": build_per_s, "curve": curve}))


if __name__ == "__main__":
    main()
