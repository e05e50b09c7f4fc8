"""The hotlist at scale: a 2,000,000-entry list, look-alike matching, a 10,000-entry delta.

    python bench/hotlist.py [--entries 2000000]

Prints the build time (from entries), the load time (from the saved index, what a restart
costs), the index's memory (arrays and texts) and the process's resident memory growth, the
median and p99 match time per read (exact plus look-alike, N=1; half the reads are hotlisted
plates with one OCR confusion, half random), and the time to apply a 10,000-entry delta in a
thread while the main thread keeps matching, with the longest gap between two matches; and,
as a car receives it, a signed cancellation (a one-entry delta) against a list of up to 100,000:
the time from its arrival until no match of the cancelled plate is possible (the car's target:
2 s; tests/test_hotlist_sync.py proves the order, this measures the time).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alprd.hotlist.index import Entry, Index  # noqa: E402
from alprd.hotlist.matcher import Matcher  # noqa: E402
from alprd.types import LIST_TYPES  # noqa: E402

CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
STATES = ["CA", "NV", "AZ", "OR", "WA", "TX", None]
CONFUSE = {"0": "O", "O": "0", "8": "B", "B": "8", "1": "I", "5": "S", "2": "Z"}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def plate(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.choice((6, 7, 7, 7, 8))))


def entries(n: int, rng: random.Random) -> list[Entry]:
    return [
        Entry(
            plate=plate(rng),
            state=rng.choice(STATES),
            list_type=rng.choice(LIST_TYPES),
            priority=rng.randint(1, 3),
            reason="Stolen vehicle, reported by owner",
            case_number=f"NIC/V{i:09d}",
            source="NCIC",
            entered_utc="2026-11-01T00:00:00Z",
        )
        for i in range(n)
    ]


def noisy(text: str, rng: random.Random) -> str:
    spots = [i for i, c in enumerate(text) if c in CONFUSE]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + CONFUSE[text[i]] + text[i + 1 :]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=2_000_000)
    ap.add_argument("--reads", type=int, default=20_000)
    a = ap.parse_args()
    rng = random.Random(1)
    items = entries(a.entries, rng)
    t0 = time.perf_counter()
    built = Index.build(items)
    print(f"build_time: {time.perf_counter() - t0:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hotlist.npz"
        built.save(path)
        del built
        base = rss_mb()
        t0 = time.perf_counter()
        index = Index.load(path)
        print(f"load_time: {time.perf_counter() - t0:.2f} s")
    print(f"index_memory: {index.nbytes / 2**20:.0f} MB")
    print(f"rss_growth_on_load: {rss_mb() - base:.0f} MB")
    m = Matcher(index, max_substitutions=1)
    reads = [noisy(rng.choice(items).plate, rng) if i % 2 else plate(rng) for i in range(a.reads)]
    times, hits = [], 0
    for r in reads:
        t0 = time.perf_counter()
        hits += bool(m.match(r))
        times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    print(f"match_hits: {hits} of {len(reads)}")
    print(f"match_median: {statistics.median(times):.1f} us")
    print(f"match_p99: {times[int(0.99 * (len(times) - 1))]:.1f} us")
    delta_add = entries(5_000, rng)
    delta_remove = [(e.plate, e.state or "") for e in rng.sample(items, 5_000)]
    done = threading.Event()
    result = {}

    def apply():
        t0 = time.perf_counter()
        m.swap(m.index.with_changes(delta_add, delta_remove, index.version + 1))
        result["s"] = time.perf_counter() - t0
        done.set()

    worker = threading.Thread(target=apply)
    last, gaps, n = time.perf_counter(), [], 0
    worker.start()
    while not done.is_set():
        m.match(reads[n % len(reads)])
        now = time.perf_counter()
        gaps.append(now - last)
        last, n = now, n + 1
    worker.join()
    print(f"delta_10k_apply: {result['s']:.2f} s")
    print(f"matches_during_delta: {n}")
    print(f"longest_match_gap_during_delta: {max(gaps) * 1000:.1f} ms")
    assert m.index.version == index.version + 1
    assert m.match(delta_add[0].plate), "an added entry does not match"
    cancellation(items[:100_000])


def cancellation(items: list[Entry]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from alprd.hotlist import Hotlist
    from alprd.hotlist.sync import HotlistSync
    from alprd.protocol import entry_to_json, sign

    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as folder:
        sync = HotlistSync(Hotlist(), key.public_key(), Path(folder))
        sync.apply(
            sign(
                {
                    "v": 1,
                    "kind": "hotlist.snapshot",
                    "list_version": 1,
                    "created_utc": "2026-11-28T00:00:00Z",
                    "entries": [entry_to_json(e) for e in items],
                },
                key,
            )
        )
        gone = items[len(items) // 2]
        message = sign(
            {
                "v": 1,
                "kind": "hotlist.delta",
                "from_version": 1,
                "list_version": 2,
                "add": [],
                "remove": [[gone.plate, gone.state]],
                "cancellation": True,
            },
            key,
        )
        assert sync.hotlist.match(gone.plate)
        t0 = time.perf_counter()
        sync.apply(message)
        took = time.perf_counter() - t0
        assert not any(m.entry.state == gone.state for m in sync.hotlist.match(gone.plate))
    print(f"cancellation_list_entries: {len(items)} entries")
    print(f"cancellation_apply: {took * 1000:.0f} ms")


if __name__ == "__main__":
    main()
