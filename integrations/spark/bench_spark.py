"""Spark local[2] against the pipe on the same rows (BENCHMARKS.md, "The Spark step").

Usage: SENDFILTER_BIN=target/release/sendfilter python bench_spark.py EXTRACT NUMBERS_FILE ROWS

Reads the first ROWS numbers of NUMBERS_FILE (one per line, e.g. gen_tenants.py's
campaign.txt), decides them for the extract's scope through `sendfilter filter --format
jsonl` (the pipe) and through `filter_campaign` on `local[2]`, and prints the times: the
pipe; Spark in full; Spark up to the E.164 shuffle without the binary's decisions (row
ids, normalising, shuffle, sort) and a plain count of the input (Spark's own floor).
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


def main():
    ext, numbers, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    m = sendfilter_spark.verify_extract(ext, BIN)
    with open(numbers) as f:
        nums = [next(f).strip() for _ in range(rows)]
    data = "".join(json.dumps({"id": i, "to": n, "body": "Tilbud"}) + "\n"
                   for i, n in enumerate(nums)).encode()
    rej = tempfile.mktemp()
    t = time.time()
    p = subprocess.run([BIN, "filter", "--store", ext, "--brand", m["brand"], "--purpose",
                        m["purpose"], "--format", "jsonl", "--shortcode", "2401", "--no-live",
                        "--rejects", rej], input=data, capture_output=True, check=True)
    pipe = time.time() - t
    allowed = p.stdout.count(b"\n")
    os.unlink(rej)
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "3g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.createDataFrame([(n, "Tilbud") for n in nums], "number string, text string")
    df = df.repartition(4).cache()
    df.count()
    t = time.time()
    df.rdd.zipWithIndex().count()
    floor = time.time() - t
    t = time.time()
    res = sendfilter_spark.filter_campaign(df, ext, m["brand"], m["purpose"],
                                           number_col="number", message_col="text",
                                           binary=BIN, shortcode="2401", no_live=True)
    n_allowed = res.filter("verdict = 'allow'").count()
    full = time.time() - t
    print(json.dumps({"rows": rows, "pipe_s": round(pipe, 2), "spark_s": round(full, 2),
                      "ratio": round(full / pipe, 1), "spark_row_ids_s": round(floor, 2),
                      "allowed_pipe": allowed, "allowed_spark": n_allowed}))
    assert allowed == n_allowed
    spark.stop()


if __name__ == "__main__":
    main()
