"""Spark local[2] against the pipe on the same rows (BENCHMARKS.md, "The Spark step").

Usage: SENDFILTER_BIN=target/release/sendfilter python bench_spark.py EXTRACT NUMBERS_FILE ROWS [PARTS]

Takes the first ROWS numbers of NUMBERS_FILE (one per line, e.g. gen_tenants.py's
campaign.txt), decides them for the extract's scope with message "Tilbud" through
`sendfilter filter --format jsonl` (the pipe, all cores) and through `filter_campaign` on
`local[2]` (about PARTS input partitions and PARTS partitions for the E.164 shuffle,
default one per million rows, at least 4), and prints one JSON line of seconds:

* pipe_s: the pipe; pipe_normalize_s: `sendfilter normalize` alone on the same numbers;
* spark_start_s: SparkSession start-up; then the whole plan runs once on 200,000 rows
  (warm-up: the JVM's JIT, Python workers), untimed;
* read_s: reading the numbers (Spark's floor);
* normalised_s, shuffled_s, spark_s: the plan run up to its normalise stage (row ids,
  `normalize` per input partition), up to the E.164 shuffle and sort, and in full (the
  `filter` stage too, counting the allowed rows), each from the text file, written
  nowhere; their differences split the time by stage;
* ratio: spark_s / pipe_s.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sendfilter_spark  # noqa: E402

BIN = os.path.abspath(os.environ.get("SENDFILTER_BIN", "target/release/sendfilter"))


def timed(f):
    t = time.time()
    r = f()
    return time.time() - t, r


def main():
    ext, numbers, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parts = int(sys.argv[4]) if len(sys.argv) > 4 else max(4, rows // 1_000_000)
    m = sendfilter_spark.verify_extract(ext, BIN)
    work = tempfile.mkdtemp(prefix="sf-bench-spark-")
    nums_path, jsonl_path = os.path.join(work, "numbers.txt"), os.path.join(work, "in.jsonl")
    with open(numbers) as f, open(nums_path, "w") as n, open(jsonl_path, "w") as j:
        for i in range(rows):
            x = next(f).strip()
            n.write(x + "\n")
            j.write('{"id":%d,"to":"%s","body":"Tilbud"}\n' % (i, x))
    flags = ["--shortcode", "2401", "--no-live"]

    def pipe():
        rej = os.path.join(work, "rej.jsonl")
        with open(jsonl_path, "rb") as i, open(os.path.join(work, "out.jsonl"), "wb") as o:
            subprocess.run([BIN, "filter", "--store", ext, "--brand", m["brand"], "--purpose",
                            m["purpose"], "--format", "jsonl", "--rejects", rej] + flags,
                           stdin=i, stdout=o, stderr=subprocess.DEVNULL, check=True)
        with open(os.path.join(work, "out.jsonl"), "rb") as o:
            return sum(1 for _ in o)

    def normalize():
        with open(nums_path, "rb") as i:
            subprocess.run([BIN, "normalize"], stdin=i, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)

    pipe_s, allowed = timed(pipe)
    norm_s, _ = timed(normalize)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession, functions as F
    start_s, spark = timed(lambda: (
        SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        # Input partitions: about `parts` of them, in the file's order.
        .config("spark.sql.files.maxPartitionBytes",
                str(max(1 << 20, os.path.getsize(nums_path) // parts + 1)))
        .getOrCreate()))
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.text(nums_path).withColumnRenamed("value", "number") \
        .withColumn("text", F.lit("Tilbud"))

    def noop(d):
        return lambda: d.write.format("noop").mode("overwrite").save()

    def plan(d):
        return sendfilter_spark._stages(d, ext, m["brand"], m["purpose"], "number", "text",
                                        BIN, "NO", parts, dict(shortcode="2401", no_live=True))

    # Warm-up (JIT, Python workers): the whole plan once on the first 200,000 rows.
    noop(plan(df.limit(200_000).repartition(2))[2])()
    read_s, _ = timed(noop(df))
    normalised, shuffled, decided, drop = plan(df)
    normalised_s, _ = timed(noop(normalised))
    shuffled_s, _ = timed(noop(shuffled))
    spark_s, n_allowed = timed(lambda: decided.drop(*drop).filter("verdict = 'allow'").count())
    print(json.dumps({
        "rows": rows, "partitions": parts, "pipe_s": round(pipe_s, 2),
        "pipe_normalize_s": round(norm_s, 2), "spark_start_s": round(start_s, 2),
        "read_s": round(read_s, 2), "normalised_s": round(normalised_s, 2),
        "shuffled_s": round(shuffled_s, 2), "spark_s": round(spark_s, 2),
        "ratio": round(spark_s / pipe_s, 1), "allowed_pipe": allowed,
        "allowed_spark": n_allowed}))
    assert allowed == n_allowed
    spark.stop()
    subprocess.run(["rm", "-rf", work], check=True)


if __name__ == "__main__":
    main()
