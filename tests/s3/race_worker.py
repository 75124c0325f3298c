"""One of the racing writers: ``python race_worker.py URI WORKER COUNT`` prints its commit ids as JSON."""

from __future__ import annotations

import json
import sys

import artifactstore


def main() -> None:
    uri, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = artifactstore.open(uri)
    ids = []
    for n in range(count):
        commit = store.put_bytes(f"w{worker}/{n}.txt", f"{worker}:{n}".encode(), message=f"worker {worker} commit {n}")
        ids.append(commit.id)
    store.close()
    sys.stdout.write(json.dumps(ids))


if __name__ == "__main__":
    main()
