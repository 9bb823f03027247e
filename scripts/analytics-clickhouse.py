#!/usr/bin/env python3
"""ClickHouse's side of `vigie bench analytics`, run in-process through chdb.

Loads the bench's NDJSON access lines (each with its time as `ts_ns`) into
a MergeTree table ordered by time, every column compressed with ZSTD(1),
then times the bench's four questions and prints one JSON object on stdout:
bytes on disk, the median (and every) time of each question, and each
question's answer so the bench can check both sides agree.

    analytics-clickhouse.py --ndjson FILE --dir DIR --rare TERM
        --since-ns N --until-ns N --runs 5

Exits with status 3 and {"error": "..."} when chdb cannot be imported.
"""

import argparse
import json
import statistics
import sys
import time

COLUMNS = [
    ("instance", "String"),
    ("method", "String"),
    ("host", "String"),
    ("path", "String"),
    ("query", "String"),
    ("status", "UInt16"),
    ("bytes_sent", "UInt64"),
    ("duration_ms", "Float64"),
    ("client_ip", "String"),
    ("country", "String"),
    ("city", "String"),
    ("lat", "Nullable(Float64)"),
    ("lon", "Nullable(Float64)"),
    ("user_agent", "String"),
]
TEXT = [name for name, kind in COLUMNS if kind == "String"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ndjson", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--rare", required=True)
    parser.add_argument("--since-ns", type=int, required=True)
    parser.add_argument("--until-ns", type=int, required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    try:
        from chdb import session
    except ImportError as error:
        print(json.dumps({"error": f"chdb cannot be imported: {error}"}))
        sys.exit(3)

    db = session.Session(args.dir)

    def query(sql):
        return json.loads(db.query(sql, "JSONCompact").bytes() or b'{"data": []}')["data"]

    columns = ", ".join(f"{name} {kind} CODEC(ZSTD(1))" for name, kind in COLUMNS)
    db.query(f"CREATE TABLE access (ts DateTime64(9) CODEC(ZSTD(1)), {columns}) ENGINE = MergeTree ORDER BY ts")
    schema = ", ".join(["ts_ns Int64"] + [f"{name} {kind if kind != 'String' else 'Nullable(String)'}" for name, kind in COLUMNS])
    values = ", ".join(
        ["fromUnixTimestamp64Nano(ts_ns)"] + [f"ifNull({name}, '')" if kind == "String" else name for name, kind in COLUMNS]
    )
    started = time.perf_counter()
    db.query(f"INSERT INTO access SELECT {values} FROM file('{args.ndjson}', 'JSONEachRow', '{schema}')")
    db.query("OPTIMIZE TABLE access FINAL")
    load_s = time.perf_counter() - started
    [[rows, on_disk]] = query(
        "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE table = 'access' AND active"
    )

    rare = args.rare.replace("\\", "\\\\").replace("'", "\\'")
    anywhere = " OR ".join(f"positionCaseInsensitive({name}, '{rare}') > 0" for name in TEXT)
    since, until = args.since_ns, args.until_ns
    in_range = f"ts >= fromUnixTimestamp64Nano({since}) AND ts <= fromUnixTimestamp64Nano({until})"
    questions = {
        # A page of up to 100 lines holding the term in any text, oldest first.
        "rare": f"SELECT * FROM access WHERE {in_range} AND ({anywhere}) ORDER BY ts LIMIT 100",
        "errors": f"SELECT count() FROM access WHERE {in_range} AND status >= 500",
        "top_paths": f"SELECT path, count() AS c FROM access WHERE {in_range} GROUP BY path ORDER BY c DESC, path LIMIT 10",
        # Per minute, split by status class, as Vigie's histogram is.
        "histogram": f"SELECT toStartOfMinute(ts) AS m, intDiv(status, 100) AS class, count() FROM access "
        f"WHERE {in_range} GROUP BY m, class ORDER BY m, class",
    }
    result = {"rows": int(rows), "bytes": int(on_disk), "load_s": load_s, "times_ms": {}, "median_ms": {}, "answers": {}}
    for name, sql in questions.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            data = query(sql)
            times.append((time.perf_counter() - started) * 1_000)
        result["times_ms"][name] = times
        result["median_ms"][name] = statistics.median(times)
        if name == "rare":
            result["answers"][name] = len(data)
        elif name == "errors":
            result["answers"][name] = int(data[0][0])
        elif name == "top_paths":
            result["answers"][name] = [[path, int(count)] for path, count in data]
        else:
            result["answers"][name] = {"buckets": len({row[0] for row in data}), "total": sum(int(row[2]) for row in data)}
    db.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
