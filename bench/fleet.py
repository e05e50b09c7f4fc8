"""A fleet against HQ: N cars, each with its own certificate over mutual TLS, through Debian's
mosquitto (the project's ACL) into `alprd hq --workers 2` (the leader and 2 ingest workers on a
shared subscription) and PostgreSQL with durable commits; one worker is killed (SIGKILL) in the
middle, and the leader starts it again.

    python bench/fleet.py [--cars 1000] [--seconds 120] [--rate 0.5] [--search-rows 10000000]

Phase 1 (the first third): the cars patrol, each sending its reads as it makes them
(`--rate` reads a second each), a tenth of them offline. Phase 2: that tenth comes back with
the backlog of a 30-minute outage (their outbox: 1,800 s x rate reads each, sent in batches
of 50 as the car's uplink does), while the rest go on patrolling; one ingest worker is killed
(SIGKILL) once a third of the backlog is stored. A car sends again what HQ has not
acknowledged, with the uplink's backoff (5 s doubling, jittered). The run ends when every
car's outbox is empty.

Prints reads_per_s_sustained (reads acknowledged per second, the patrol's included, from the
backlog's return until its last read is acknowledged), ack_latency_p50_ms / _p99_ms (a read
first sent to its ack received, every read), lost (reads acknowledged but not stored, or never
acknowledged), duplicated (stored more than once). With --search-rows R, R reads (1,000 units,
1,000,000 plates, 24 months) are then loaded into a fresh database and plate_search_p99_ms is
measured through PgStore.search (the access log written for each), 500 searches of plates that
exist.

Each car here is a minimal MQTT 5 client on asyncio (bench/fleet_cars.py; one process for the
whole fleet), not alprd's uplink: 1,000 paho clients would need 1,000 threads on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from fleet_cars import Car, Stats  # noqa: E402  (bench/fleet_cars.py, beside this file)

from alprd.demo.broker import Mosquitto  # noqa: E402
from alprd.demo.postgres import Postgres  # noqa: E402
from alprd.provision import issue, provision  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


# -- the run ------------------------------------------------------------------------------
def make_pki(folder: Path, n: int) -> list[str]:
    provision(folder, "CAR-00000")
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    units = [f"CAR-{i:05d}" for i in range(n)]
    for u in units:
        issue(folder, u, u, ca_key, ca, server=False)
    return units


def hq_leader(broker_url: str, pki: Path, db: str, key: Path, workers: int) -> subprocess.Popen:
    """`alprd hq --workers N`: the leader and its ingest workers (child processes)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alprd",
            "hq",
            "--workers",
            str(workers),
            "--broker",
            broker_url,
            "--db",
            db,
            "--index-key",
            str(key),
            "--client-id",
            "bench-hq",
            "--tls-ca",
            str(pki / "ca.crt"),
            "--tls-cert",
            str(pki / "hq.crt"),
            "--tls-key",
            str(pki / "hq.key"),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


async def fleet(args, port: int, pki: Path, units: list[str], stats: Stats, db_count, kill) -> dict:
    cars = []
    for u in units:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / f"{u}.crt"), str(pki / f"{u}.key"))
        cars.append(Car(u, ctx, port, stats))
    t0 = time.monotonic()
    for k in range(0, len(cars), 50):  # connect in waves (TLS handshakes)
        await asyncio.gather(*(c.connect() for c in cars[k : k + 50]))
    print(f"connected: {len(cars)} cars in {time.monotonic() - t0:.1f} s", flush=True)
    away = cars[: max(1, len(cars) // 10)]
    for c in cars[len(away) :]:
        c.online.set()
    now = datetime.now(timezone.utc)
    per_car = int(1800 * args.rate)
    for c in away:  # 30 minutes of reads made while offline
        for j in range(per_car):
            c.add(now - timedelta(seconds=1800 - j / args.rate))
    backlog = per_car * len(away)
    phase1 = args.seconds / 3
    start = time.monotonic()
    back_at = done_at = None
    killed = False
    next_poll = 0.0
    next_report = start + 10
    acked_at_back = 0
    next_read = {c.unit: start + random.random() / args.rate for c in cars}
    while True:
        now_m = time.monotonic()
        utc = datetime.now(timezone.utc)
        patrolling = now_m - start < args.seconds
        for c in cars:
            if patrolling and now_m >= next_read[c.unit]:
                c.add(utc)
                next_read[c.unit] += 1 / args.rate
            c.send_some()
        if back_at is None and now_m - start >= phase1:
            back_at = time.monotonic()
            acked_at_back = stats.acked
            for c in away:
                c.online.set()
            print(f"backlog: {len(away)} cars back with {backlog} reads", flush=True)
        if now_m >= next_report:
            next_report = now_m + 10
            print(
                f"progress: {now_m - start:.0f} s, {stats.acked}/{stats.made} acknowledged",
                flush=True,
            )
        if back_at and not killed and now_m >= next_poll:
            next_poll = now_m + 1.0
            if db_count() >= acked_at_back + backlog / 3:
                kill()
                killed = True
                print(f"killed: one ingest worker at {now_m - start:.1f} s", flush=True)
        if back_at and done_at is None and all(not c.outbox for c in away):
            done_at = time.monotonic()
            acked_at_done = stats.acked
            print(f"backlog: acknowledged in {done_at - back_at:.1f} s", flush=True)
        if back_at and not patrolling and all(not c.outbox for c in cars):
            break
        if now_m - start > args.seconds + 600:
            print("timeout: outboxes not empty after 10 minutes more", flush=True)
            break
        await asyncio.sleep(0.05)
    end = done_at or time.monotonic()
    return {
        "back_at": back_at,
        "end": end,
        "killed": killed,
        "acked_in_window": (acked_at_done if done_at else stats.acked) - acked_at_back,
    }


def search_bench(pg: Postgres, rows: int, key: bytes) -> list[float]:
    """Load `rows` reads server-side (generate_series, the blind index by pgcrypto's HMAC, the
    same bytes as alprd.hq.schema.plate_index), then time HqStore.search."""
    import psycopg

    from alprd.hq.pgrecords import PgStore

    url = pg.create_database("alprd_search")
    from alprd.hq.sealing import BodySealer

    store = PgStore(url, key, BodySealer({"k1": os.urandom(32)}, "k1"))  # the real migrations
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        start = datetime(2025, 1, 1, tzinfo=timezone.utc)
        months = {start.replace(year=2025 + m // 12, month=m % 12 + 1) for m in range(24)}
        store._ensure_months(months)
        t0 = time.monotonic()
        step = 500_000
        span = 24 * 30 * 86400
        for lo in range(0, rows, step):
            hi = min(rows, lo + step)
            conn.execute(
                "INSERT INTO records (unit_id, id, kind, body, captured_utc, received_utc, "
                "plate_index) SELECT 'CAR-' || lpad((g %% 1000)::text, 5, '0'), 'r' || g, "
                "'read', jsonb_build_object('id', 'r' || g, 'text', 'P' || lpad((g %% "
                "1000000)::text, 6, '0'), 'utc', to_char(t, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                " 'lat', 34.05, 'lon', -118.24, 'confidence', 0.9), t, t, substring(hmac("
                "convert_to('P' || lpad((g %% 1000000)::text, 6, '0'), 'UTF8'), %s, 'sha256') "
                "from 1 for 16) FROM generate_series(%s, %s - 1) AS g, LATERAL (SELECT %s::"
                "timestamptz + ((g::bigint * 7919) %% %s) * interval '1 second') AS x(t)",
                (key, lo, hi, start, span),
            )
            print(f"loaded: {hi} rows, {time.monotonic() - t0:.0f} s", flush=True)
        conn.execute("VACUUM ANALYZE records")
    times = []
    rng = random.Random(7)
    for _ in range(500):
        plate = f"P{rng.randrange(min(rows, 1_000_000)):06d}"
        t = time.perf_counter()
        found = store.search("bench", "data_user", "criminal", plate)
        times.append(time.perf_counter() - t)
        assert found, plate
    store.close()
    return times


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cars", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--rate", type=float, default=0.5, help="reads a second per car")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--search-rows", type=int, default=0)
    ap.add_argument("--skip-fleet", action="store_true", help="only the search figure")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets, and the broker's
    tmp = Path(tempfile.mkdtemp(prefix="alprd-fleet-"))
    pg = Postgres(fsync=True).start()  # durable commits, as in service
    key = tmp / "hq-index.key"
    try:
        if not args.skip_fleet:
            run_fleet(args, pg, tmp, key)
        if args.search_rows:
            from alprd.hq.keys import load_index_key

            times = search_bench(pg, args.search_rows, load_index_key(key))
            print(f"search_rows: {args.search_rows} rows")
            print(f"plate_search_p50_ms: {statistics.median(times) * 1000:.1f} ms")
            print(f"plate_search_p99_ms: {pct(times, 99) * 1000:.1f} ms")
    finally:
        pg.stop()
    return 0


def run_fleet(args, pg: Postgres, tmp: Path, key: Path) -> None:
    import psycopg

    t0 = time.monotonic()
    pki = tmp / "pki"
    units = make_pki(pki, args.cars)
    print(f"certificates: {len(units)} cars in {time.monotonic() - t0:.1f} s", flush=True)
    db = pg.create_database("alprd_fleet")
    broker = Mosquitto(tls=(pki / "ca.crt", pki / "hq.crt", pki / "hq.key")).start()
    leader = hq_leader(broker.url, pki, db, key, args.workers)
    deadline = time.monotonic() + 30
    while len(children(leader.pid)) < args.workers and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the workers connect and subscribe
    conn = psycopg.connect(db, autocommit=True)
    conn.execute("SELECT 1")

    def db_count() -> int:
        try:
            return conn.execute("SELECT count(*) FROM records").fetchone()[0]
        except psycopg.Error:
            return 0

    def kill() -> None:  # one ingest worker, as the OOM killer would; the leader restarts it
        os.kill(children(leader.pid)[0], signal.SIGKILL)

    stats = Stats()
    try:
        run = asyncio.run(fleet(args, broker.port, pki, units, stats, db_count, kill))
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (unit_id, id)) FROM records"
        ).fetchone()
        ids = {(u, i) for u, i in conn.execute("SELECT unit_id, id FROM records")}
    finally:
        conn.close()
        leader.terminate()
        try:
            leader.wait(15)
        except subprocess.TimeoutExpired:
            for pid in children(leader.pid):
                os.kill(pid, signal.SIGKILL)
            leader.kill()
        broker.stop()
    lost = len(stats.acked_ids - ids) + (stats.made - stats.acked)
    window = run["end"] - run["back_at"]
    lat = stats.latencies
    print(f"cars: {args.cars}")
    print(f"reads_made: {stats.made} reads")
    print(f"up_messages: {stats.messages} messages")
    print(f"worker_killed: {'yes' if run['killed'] else 'no'}")
    print(f"backlog_window_s: {window:.1f} s")
    print(f"reads_per_s_sustained: {run['acked_in_window'] / window:.0f} reads/s")
    print(f"ack_latency_p50_ms: {pct(lat, 50) * 1000:.0f} ms")
    print(f"ack_latency_p99_ms: {pct(lat, 99) * 1000:.0f} ms")
    print(f"lost: {lost} reads")
    print(f"duplicated: {stored - distinct} reads")


if __name__ == "__main__":
    sys.exit(main())
