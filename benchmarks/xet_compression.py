"""What hf-xet's xorb compression saves and costs on model weights, for the xet backend's default.

Each content is uploaded with ``put_file`` into a fresh embedded xet store per policy
(``compression="none"`` and hf-xet's ``"auto"``), the policies interleaved in each repeat:

* ``float32`` - ``--mib`` MiB of float32 values drawn from normal(0, 0.02), the usual scale of
  trained weights;
* ``bfloat16`` - the same values truncated to bfloat16 (half the bytes);
* any ``--files`` given: real weight files (ONNX, TorchScript, safetensors ...), each on its own.

Reported per content and policy: the CAS bytes on disk the upload added, as a share of the
file (shards and the CAS database included, so a small file shows some overhead), and the
medians of ``--repeat`` runs of upload MB/s and CPU seconds (user + system, every thread of
this process, hf-xet's included).

    python benchmarks/xet_compression.py                         # 256 MiB, 3 repeats
    python benchmarks/xet_compression.py --mib 64 --repeat 1     # quick
    pip download --no-deps rapidocr-onnxruntime==1.4.4 silero-vad==6.2.3   # real weights:
    python benchmarks/xet_compression.py --files <unzipped .onnx/.jit files>
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from artifactstore_xet import XetStore

POLICIES = ("none", "auto")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _make_contents(work: Path, mib: int) -> list[Path]:
    rng = np.random.default_rng(1)
    weights = rng.standard_normal(mib * 1024 * 1024 // 4, dtype=np.float32) * np.float32(0.02)
    float32 = work / "float32.bin"
    weights.tofile(float32)
    bfloat16 = work / "bfloat16.bin"
    (weights.view(np.uint32) >> 16).astype(np.uint16).tofile(bfloat16)
    return [float32, bfloat16]


def _upload(path: Path, policy: str, work: Path) -> tuple[float, float, int]:
    """Seconds, CPU seconds and CAS bytes added for one upload of ``path`` into a fresh store."""
    root = work / f"store-{policy}"
    store = XetStore(root, create=True, compression=policy)
    try:
        store.put_file("warm-up.bin", b"w" * (2 * 1024 * 1024))  # opens the CAS: not measured
        before = store.content_port.stored_bytes()
        cpu, started = _cpu(), time.perf_counter()
        store.put_file(path.name, path)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        return seconds, cpu, store.content_port.stored_bytes() - before
    finally:
        store.close()
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="size of the generated float32 weights (default 256)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per content and policy (default 3)")
    parser.add_argument("--files", nargs="*", type=Path, default=[], help="real weight files to measure as well")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xet-compression-"))
    try:
        contents = _make_contents(work, args.mib) + list(args.files)
        print("| content | MiB | policy | stored / size | upload MB/s | upload CPU s |")
        print("|---|---:|---|---:|---:|---:|")
        for path in contents:
            size = path.stat().st_size
            runs: dict[str, list[tuple[float, float, int]]] = {p: [] for p in POLICIES}
            for i in range(args.repeat):
                for policy in POLICIES if i % 2 == 0 else reversed(POLICIES):
                    runs[policy].append(_upload(path, policy, work))
            for policy in POLICIES:
                seconds = statistics.median(r[0] for r in runs[policy])
                cpu = statistics.median(r[1] for r in runs[policy])
                stored = statistics.median(r[2] for r in runs[policy])
                print(
                    f"| {path.name} | {size / 2**20:.1f} | {policy} | {stored / size * 100:.1f}% "
                    f"| {size / seconds / 1e6:.0f} | {cpu:.2f} |"
                )
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
