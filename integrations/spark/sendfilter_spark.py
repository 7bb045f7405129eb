"""Run ``sendfilter filter`` inside a Spark job, over a read-only extract.

The flow (see the README's "At cluster scale")::

    sendfilter extract --store ./store --brand ACME --purpose offers ./acme-offers   # driver
    result = filter_campaign(df, "./acme-offers", "ACME", "offers",
                             number_col="phone", message_col="text",
                             binary="/opt/sendfilter/bin/sendfilter", region="NO")
    allowed = result.filter("verdict = 'allow'")
    # ... write `allowed`, then, just before the gateway:
    sendfilter recheck --store ./store --brand ACME --since SEQ --format jsonl < allowed.jsonl

What it does:

* On the driver, ``sendfilter extract --verify`` checks every byte of the extract against
  its manifest: a damaged extract fails the job before any row is decided.
* The binary and the extract (tarred, one file) are shipped with ``SparkContext.addFile``;
  each executor unpacks the extract once.
* Every row gets a row id in campaign order (``zipWithIndex``: the DataFrame's order).
  Numbers are normalised to E.164 (``sendfilter normalize``), rows are repartitioned by
  E.164 and sorted by row id within each partition, so all copies of a number meet in one
  partition in campaign order: the first occurrence wins, exactly as in the pipe.
* Each partition is piped through one ``sendfilter filter --format jsonl`` process; every
  record carries its row id, so no answer depends on the pipe's order. A non-zero exit of
  the binary raises (the task fails, and with Spark's retries the job).

The result has the input's columns plus ``e164`` (null when invalid), ``verdict``
(``allow``/``reject``), ``reason`` (``ALLOWED`` or filter's reason code), ``message`` (the
stamped message for allowed marketing records, else the input message) and ``segments``
(SMS segments of ``message``).
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile

__all__ = ["filter_campaign", "verify_extract", "segments"]

_ID = "__sf_row_id"


def verify_extract(extract_path, binary="sendfilter"):
    """Checks the extract with ``sendfilter extract --verify`` and returns its manifest.

    Raises ``RuntimeError`` (naming what is damaged) when the extract is not intact."""
    p = subprocess.run([binary, "extract", "--verify", extract_path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"extract {extract_path} refused: {p.stderr.strip()}")
    return json.loads(p.stdout)


def _tar_extract(extract_path, manifest, workdir):
    name = "sendfilter-extract-%s-%s-g%d-s%d.tar" % (
        manifest["brand"], manifest["purpose"], manifest["source_generation"],
        manifest["journal_seq"])
    name = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)
    path = os.path.join(workdir, name)
    with tarfile.open(path, "w") as t:
        for f in [x["name"] for x in manifest["files"]] + ["EXTRACT"]:
            t.add(os.path.join(extract_path, f), arcname=f)
    return path


def _local_extract(tar_name):
    """Unpacks the shipped extract once per executor (atomically: tasks may race)."""
    from pyspark import SparkFiles
    root = SparkFiles.getRootDirectory()
    target = os.path.join(root, tar_name[:-4])
    if not os.path.isdir(target):
        tmp = tempfile.mkdtemp(dir=root, prefix=".unpack-")
        with tarfile.open(SparkFiles.get(tar_name)) as t:
            t.extractall(tmp)
        os.chmod(tmp, 0o700)
        try:
            os.rename(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another task was first
    return target


def _binary(binary_name):
    from pyspark import SparkFiles
    path = SparkFiles.get(binary_name)
    os.chmod(path, 0o755)
    return path


def _run(args, data):
    p = subprocess.run(args, input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("%s exited with %d: %s" % (
            os.path.basename(args[0]), p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return p.stdout


def _clean(s):
    return None if s is None else str(s).replace("\r", " ").replace("\n", " ")


_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = set("^{}\\[~]|€\f")


def segments(text):
    """SMS segments of ``text`` as sendfilter counts them (GSM 03.38 or UCS-2, escape and
    surrogate pairs never split across segments)."""
    text = text or ""
    gsm = all(c in _GSM_BASIC or c in _GSM_EXT for c in text)
    width = (lambda c: 2 if c in _GSM_EXT else 1) if gsm else \
        (lambda c: 2 if ord(c) > 0xFFFF else 1)
    single, multi = (160, 153) if gsm else (70, 67)
    units = sum(width(c) for c in text)
    if units <= single:
        return 1
    count, room = 1, multi
    for c in text:
        w = width(c)
        if w > room:
            count, room = count + 1, multi
        room -= w
    return count


def filter_campaign(df, extract_path, brand, purpose, number_col="number",
                    message_col=None, binary="sendfilter", region="NO",
                    num_partitions=None, **options):
    """Decides every row of ``df`` with ``sendfilter filter`` on the executors.

    ``extract_path``: a directory written by ``sendfilter extract`` (read on the driver).
    ``binary``: the sendfilter executable on the driver (shipped to the executors; it must
    run there: build it for their platform). ``region``: as ``filter --region`` (``"NO"``,
    ``"NO,SE"``). ``num_partitions``: partitions of the E.164 shuffle (default: the
    input's). ``options``: more ``filter`` flags, ``snake_case=value`` (``True`` for a bare
    flag), e.g. ``shortcode="2401"``, ``soft_opt_in=True``, ``max_segments=3``,
    ``now="2026-03-15T09:59:59Z"``; ``store``, ``brand``, ``purpose``, ``format``,
    ``rejects`` and the input fields are set here.

    Returns the DataFrame with ``e164``, ``verdict``, ``reason``, ``message`` and
    ``segments`` added (``message`` replaces ``message_col`` when given), in no particular
    order. Raises before any row is decided when the extract is damaged.
    """
    from pyspark.sql import SparkSession, types as T

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    manifest = verify_extract(extract_path, binary)
    if manifest["brand"] != brand or manifest["purpose"] != purpose:
        raise ValueError("extract %s is for %s/%s, not %s/%s" % (
            extract_path, manifest["brand"], manifest["purpose"], brand, purpose))
    work = tempfile.mkdtemp(prefix="sendfilter-spark-")
    tar = _tar_extract(extract_path, manifest, work)
    sc.addFile(tar)
    sc.addPyFile(os.path.abspath(__file__))  # the executors run this module's functions
    sc.addFile(os.path.abspath(binary))
    tar_name, bin_name = os.path.basename(tar), os.path.basename(binary)

    flags = []
    for k, v in sorted(options.items()):
        flag = "--" + k.replace("_", "-")
        if v is True:
            flags.append(flag)
        elif v not in (None, False):
            flags += [flag, str(v)]

    cols = df.columns
    n_at = cols.index(number_col)
    m_at = cols.index(message_col) if message_col else None

    def normalise(part):
        rows = list(part)
        if not rows:
            return
        data = "".join((_clean(r[0][n_at]) or "") + "\n" for r in rows).encode()
        out = _run([_binary(bin_name), "normalize", "--region", region], data)
        lines = out.decode().split("\n")
        for (row, rid), e in zip(rows, lines):
            yield (None if e == "INVALID" else e, rid, row)

    def decide(part):
        items = list(part)
        if not items:
            return
        items.sort(key=lambda x: x[1][1])
        recs = []
        for _, (e164, rid, row) in items:
            rec = {"id": rid, "to": row[n_at]}
            if m_at is not None and row[m_at] is not None:
                rec["body"] = row[m_at]
            recs.append(json.dumps(rec, ensure_ascii=False))
        data = ("\n".join(recs) + "\n").encode()
        store = _local_extract(tar_name)
        fd, rejects = tempfile.mkstemp(prefix="sendfilter-rejects-", suffix=".jsonl")
        os.close(fd)
        try:
            out = _run([_binary(bin_name), "filter", "--store", store, "--brand", brand,
                        "--purpose", purpose, "--format", "jsonl", "--region", region,
                        "--number-field", "to", "--message-field", "body",
                        "--rejects", rejects] + flags, data)
            answers = {}
            for line in out.decode().splitlines():
                o = json.loads(line)
                answers[o["id"]] = ("allow", "ALLOWED", o.get("body"))
            with open(rejects, encoding="utf-8") as f:
                for line in f:
                    o = json.loads(line)
                    rid = o.get("id")
                    if rid is None:  # a record that did not read: not one we wrote
                        raise RuntimeError("sendfilter rejected a record without an id")
                    answers[rid] = ("reject", o["reason"], o.get("body"))
        finally:
            os.unlink(rejects)
        for _, (e164, rid, row) in items:
            if rid not in answers:
                raise RuntimeError("sendfilter gave no answer for row %d" % rid)
            verdict, reason, msg = answers[rid]
            yield tuple(row) + (e164, verdict, reason, msg,
                                segments(msg) if msg is not None else None)

    indexed = df.rdd.zipWithIndex()
    # Integer keys (E.164 digits; invalid numbers spread by row id): deterministic hashing.
    keyed = indexed.mapPartitions(normalise).map(
        lambda t: ((int(t[0][1:]) if t[0] is not None else -1 - t[1]), (t[0], t[1], t[2])))
    parts = num_partitions or max(1, keyed.getNumPartitions())
    decided = keyed.partitionBy(parts).mapPartitions(
        lambda it: decide((k, v) for k, v in it))
    added = ("e164", "verdict", "reason", "message", "segments")
    # Input columns with the names of added ones are replaced (renamed, then dropped).
    fields = [T.StructField("__sf_in_" + f.name, f.dataType, f.nullable) if f.name in added
              else f for f in df.schema.fields]
    schema = T.StructType(fields + [
        T.StructField("e164", T.StringType()),
        T.StructField("verdict", T.StringType()),
        T.StructField("reason", T.StringType()),
        T.StructField("message", T.StringType()),
        T.StructField("segments", T.IntegerType()),
    ])
    out = spark.createDataFrame(decided, schema)
    drop = [f.name for f in fields if f.name.startswith("__sf_in_")]
    if message_col and message_col not in added:
        drop.append(message_col)
    return out.drop(*drop) if drop else out
