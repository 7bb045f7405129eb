"""PySpark (local[2]) against the pipe: every row decided alike.

Run: SENDFILTER_BIN=target/debug/sendfilter python integrations/spark/test_sendfilter_spark.py [ROWS]
Needs pyspark and Java 17; without Java it says SKIPPED loudly and exits 0 (`.ci/run`
installs pyspark). Builds a store with every reason code, extracts ACME/offers, decides a
campaign of ROWS rows (default 200,000; duplicates spread across partitions) through
Spark and through `sendfilter filter` and compares them row by row; then checks that a
damaged extract fails the job before any row is decided and that a failing binary fails
the job.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sendfilter_spark  # noqa: E402

BIN = os.path.abspath(os.environ.get("SENDFILTER_BIN", "target/debug/sendfilter"))
NOW = "2026-03-15T09:59:59Z"
OPTS = dict(now=NOW, soft_opt_in=True, max_segments=1, no_live=True)
REASONS = ["MALFORMED", "INVALID_NUMBER", "DUPLICATE", "STOPPED", "NO_CONSENT",
           "CONSENT_EXPIRED", "CONSENT_UNCONFIRMED", "SOFT_OPT_IN_LAPSED",
           "SOFT_OPT_IN_NOT_INFORMED", "NO_OPT_OUT_ROUTE", "TOO_LONG", "ALLOWED"]


def sf(*args, stdin=None):
    p = subprocess.run([BIN, *args], input=stdin, capture_output=True)
    if p.returncode != 0:
        raise SystemExit("sendfilter %s failed: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout


def build_store(d, pool):
    """Consents, stops and customers over `pool` numbers: index i % 10 picks the case."""
    rnd = random.Random(1)
    cons = ["number,brand,purpose,channel,granted_at,method,text_ref,source,expires_at,confirmed_at"]
    stops = ["number,brand,stopped_at"]
    cust = ["number,brand,relationship,started_at,last_purchase_at,ends_at,informed_at"]
    for i, n in enumerate(pool):
        k = i % 10
        ok = "%s,ACME,offers,sms,2024-01-01T00:00:00Z,web,v1,web,,2024-01-02T00:00:00Z" % n
        if k in (0, 1, 2):
            cons.append(ok)
        elif k == 3:
            cons.append(ok)
            stops.append("%s,%s,2025-01-01T00:00:00Z" % (n, rnd.choice(["ACME", "*", "acme"])))
        elif k == 4:
            cons.append("%s,ACME,offers,sms,2024-01-01T00:00:00Z,web,v1,web,2025-01-01T00:00:00Z,2024-01-02T00:00:00Z" % n)
        elif k == 5:
            cons.append("%s,ACME,offers,sms,2024-01-01T00:00:00Z,web,v1,web,," % n)
        elif k == 6:
            cust.append("%s,ACME,subscription,2023-01-01T00:00:00Z,,2025-01-01T00:00:00Z,2023-01-01T00:00:00Z" % n)
        elif k == 7:
            cust.append("%s,ACME,membership,2023-01-01T00:00:00Z,,,2023-01-01T00:00:00Z" % n)
        elif k == 8:
            cust.append("%s,ACME,membership,2023-01-01T00:00:00Z,,," % n)
        else:
            cons.append("%s,OTHER,offers,sms,2024-01-01T00:00:00Z,web,v1,web,,2024-01-02T00:00:00Z" % n)
            stops.append("%s,OTHER,2025-01-01T00:00:00Z" % n)
    for k in range(1000):  # Swedish numbers with consent: no opt-out route to them
        cons.append("+4670%07d,ACME,offers,sms,2024-01-01T00:00:00Z,web,v1,web,,2024-01-02T00:00:00Z" % k)
    for name, rows in (("consents", cons), ("stops", stops), ("customers", cust)):
        path = os.path.join(d, name + ".csv")
        with open(path, "w") as f:
            f.write("\n".join(rows) + "\n")
    store = os.path.join(d, "store")
    sf("brand", "add", "--store", store, "ACME", "--shortcode", "2401")
    sf("policy", "--store", store, "set", "--brand", "ACME", "--require-confirmed", "true")
    for name in ("consents", "customers", "stops"):
        sf("import", name, "--store", store, os.path.join(d, name + ".csv"))
    sf("compact", "--store", store)
    return store


# Texts that test the JSON written from Arrow columns and the segment counts: quotes,
# backslashes, control characters, GSM escapes and characters outside the BMP, some at
# a segment boundary after stamping.
ODD_TEXTS = ['Si "hei" \\ til meg', "tab\there\x01", "€" * 80, "x" * 152 + "€",
             "Ærlig talt 😀", "😀" * 40, "ø" * 200, "", "{json} [x] ~|^", "linje\nto"]


def check_helpers():
    """The Arrow helpers against their per-row references (no Spark needed)."""
    import pyarrow as pa
    texts = ODD_TEXTS + [None, "a" * 160, "a" * 161, "€" * 76 + "a", "й" * 70, "й" * 71,
                         "😀" * 35, "a" * 305 + "€", "x" * 153 * 2]
    got = sendfilter_spark.segments_array(pa.array(texts, pa.string())).to_pylist()
    want = [None if t is None else sendfilter_spark.segments(t) for t in texts]
    assert got == want, list(zip(texts, got, want))
    lines = sendfilter_spark._jsonl(pa.array(range(len(texts)), pa.int64()),
                                    pa.array(texts, pa.string()),
                                    pa.array(texts, pa.string())).decode().splitlines()
    for i, (line, t) in enumerate(zip(lines, texts)):
        o = json.loads(line)
        assert o["id"] == i and o["to"] == t and o.get("body") == t, (line, t)
        assert ("body" in o) == (t is not None), line
    assert len(lines) == len(texts)


def campaign(rows, pool):
    """(number, text) rows: pool numbers (national and spaced forms too), Swedish numbers
    (no route), invalid and missing numbers, long texts; duplicates anywhere."""
    rnd = random.Random(2)
    out = []
    for i in range(rows):
        r = rnd.random()
        if r < 0.01:
            n = None
        elif r < 0.02:
            n = "12"
        elif r < 0.04:
            n = "+4670%07d" % rnd.randrange(1000)
        else:
            n = pool[rnd.randrange(len(pool))]
            if rnd.random() < 0.2:
                n = n[3:]  # national form: the same number, another spelling
        r = rnd.random()
        text = ("Tilbud %d" % i if r > 0.04 else "x" * 170 if r > 0.02
                else rnd.choice(ODD_TEXTS))
        out.append((i, n, text))
    return out


def pipe(store, rows):
    d = tempfile.mkdtemp()
    rej = os.path.join(d, "rej.jsonl")
    data = "".join(json.dumps({"id": i, "to": n, "body": t}) + "\n" for i, n, t in rows)
    args = ["filter", "--store", store, "--brand", "ACME", "--purpose", "offers", "--format",
            "jsonl", "--rejects", rej, "--now", NOW, "--soft-opt-in", "--max-segments", "1",
            "--no-live"]
    t = time.time()
    out = sf(*args, stdin=data.encode())
    took = time.time() - t
    ans = {}
    for line in out.decode().splitlines():
        o = json.loads(line)
        ans[o["id"]] = ("allow", "ALLOWED", o.get("body"), o["to"])
    with open(rej) as f:
        for line in f:
            o = json.loads(line)
            ans[o["id"]] = ("reject", o["reason"], o.get("body"), None)
    shutil.rmtree(d)
    return ans, took


def main():
    rows_n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    check_helpers()
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        print("#" * 70 + "\nSKIPPED: Spark test: no Java on this machine (install Java 17)\n" + "#" * 70)
        return 0
    # The Python workers run this interpreter (pyarrow is needed there too).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    d = tempfile.mkdtemp(prefix="sf-spark-test-")
    pool = ["+479%07d" % (1000000 + 7 * i) for i in range(max(1000, rows_n // 2))]
    store = build_store(d, pool)
    ext = os.path.join(d, "extract")
    sf("extract", "--store", store, "--brand", "ACME", "--purpose", "offers", ext)
    rows = campaign(rows_n, pool)
    expected, pipe_s = pipe(ext, rows)
    assert expected == pipe(store, rows)[0], "extract and store differ"
    spark = (SparkSession.builder.master("local[2]").appName("sendfilter-test")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "8").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.createDataFrame(rows, "id long, number string, text string")
    t = time.time()
    res = sendfilter_spark.filter_campaign(
        df, ext, "ACME", "offers", number_col="number", message_col="text", binary=BIN,
        num_partitions=8, **OPTS).collect()
    spark_s = time.time() - t
    assert len(res) == len(rows), (len(res), len(rows))
    seen = {r["reason"] for r in res}
    assert seen == set(REASONS), "reasons missing: %s" % (set(REASONS) - seen)
    dups = 0
    for r in res:
        verdict, reason, body, to = expected[r["id"]]
        assert (r["verdict"], r["reason"], r["message"]) == (verdict, reason, body), (r, expected[r["id"]])
        if verdict == "allow":
            assert r["e164"] == to and r["segments"] == 1, r
        want = None if r["message"] is None else sendfilter_spark.segments(r["message"])
        assert r["segments"] == want, r
        dups += reason == "DUPLICATE"
    # Duplicates across partitions: the copies of a number started in different input
    # partitions (createDataFrame slices the list in order).
    print("spark test: %d rows alike (%d duplicates); pipe %.1f s, spark %.1f s"
          % (len(res), dups, pipe_s, spark_s))
    # Input columns named like the added ones: `message` as the message column is replaced
    # by the stamped one, an input `reason` column is replaced too. Some messages are null
    # (not stamped; the module sends such partitions as jsonl, the rest as CSV).
    few = [(i, n, None if i % 40 == 0 else t) for i, n, t in rows[:3000]]
    df2 = spark.createDataFrame([(i, n, t, "x") for i, n, t in few],
                                "id long, number string, message string, reason string")
    res2 = sendfilter_spark.filter_campaign(
        df2, ext, "ACME", "offers", number_col="number", message_col="message", binary=BIN,
        **OPTS)
    assert res2.columns == ["id", "number", "e164", "verdict", "reason", "message",
                            "segments"], res2.columns
    exp2, _ = pipe(ext, few)
    nulls = 0
    for r in res2.collect():
        assert (r["verdict"], r["reason"], r["message"]) == exp2[r["id"]][:3], r
        nulls += r["message"] is None
    assert nulls >= 50, nulls
    # A damaged extract fails before any row is decided.
    bad = os.path.join(d, "bad")
    shutil.copytree(ext, bad)
    with open(os.path.join(bad, "snapshot"), "r+b") as f:
        f.seek(300)
        b = f.read(1)
        f.seek(300)
        f.write(bytes([b[0] ^ 1]))
    try:
        sendfilter_spark.filter_campaign(df, bad, "ACME", "offers", number_col="number",
                                         message_col="text", binary=BIN, **OPTS)
        raise AssertionError("a damaged extract was accepted")
    except RuntimeError as e:
        assert "damaged extract" in str(e), e
    # A failing binary fails the job (a footer without an opt-out keyword is refused).
    try:
        sendfilter_spark.filter_campaign(df, ext, "ACME", "offers", number_col="number",
                                         message_col="text", binary=BIN, footer="Hei",
                                         **OPTS).collect()
        raise AssertionError("a failing binary did not fail the job")
    except Exception as e:  # Py4J / PythonException wrapping the task's RuntimeError
        assert "exited with 2" in str(e), str(e)[-2000:]
    spark.stop()
    shutil.rmtree(d)
    print("spark test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
