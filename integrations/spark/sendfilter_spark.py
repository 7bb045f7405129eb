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
* Rows never become Python objects: every stage is a DataFrame operation or an Arrow
  batch function (``mapInArrow``) that writes whole columns to the binary's stdin and reads
  its output back as Arrow arrays.
* Every row gets a row id in campaign order (``monotonically_increasing_id``: the
  DataFrame's order). Numbers are normalised to E.164 (``sendfilter normalize``, one
  process per input partition); the rows are repartitioned by E.164 and sorted by row id
  within each partition, so all copies of a number meet in one partition in campaign
  order: the first occurrence wins, exactly as in the pipe. Rows whose number does not
  normalise are spread by row id and come out with their reason.
* Each partition is piped through one ``sendfilter filter`` process (CSV written and read
  by pyarrow; jsonl where a message is null, as CSV cannot tell null from empty); every
  record carries its row id, and every row id must come back exactly once, so no answer
  depends on the pipe's order. A non-zero exit of the binary raises (the task fails, and
  with Spark's retries the job).

The result has the input's columns plus ``e164`` (null when invalid), ``verdict``
(``allow``/``reject``), ``reason`` (``ALLOWED`` or filter's reason code), ``message`` (the
stamped message for allowed marketing records, else the input message) and ``segments``
(SMS segments of ``message``). Needs PySpark 3.3 or later with pyarrow (``pyspark[sql]``).
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile

__all__ = ["filter_campaign", "verify_extract", "segments", "segments_array"]

_ID = "__sf_row_id"
_ADDED = ("e164", "verdict", "reason", "message", "segments")


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


# ---- Arrow column helpers (no Python object per row) ----

def _large(a):
    """``a`` (any Arrow array) as one large_string array."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks() if a.num_chunks else pa.array([], pa.large_string())
    if a.type != pa.large_string():
        a = pc.cast(a, pa.large_string())
    return a


def _lit(s):
    import pyarrow as pa
    return pa.scalar(s, pa.large_string())


def _concat_bytes(a):
    """The bytes of every value of the large_string array ``a`` (no nulls), back to back."""
    import numpy as np
    if len(a) == 0:
        return b""
    offsets = np.frombuffer(a.buffers()[1], dtype=np.int64,
                            count=a.offset + len(a) + 1)[a.offset:]
    return a.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]


def _lines(a):
    """One line per value (null as empty, CR/LF as spaces), as bytes for a binary's stdin."""
    import pyarrow.compute as pc
    a = pc.fill_null(_large(a), _lit(""))
    if pc.any(pc.match_substring_regex(a, "[\r\n]")).as_py():
        a = pc.replace_substring(pc.replace_substring(a, "\r", " "), "\n", " ")
    return _concat_bytes(pc.binary_join_element_wise(a, _lit(""), _lit("\n")))


def _json_strings(a):
    """JSON string literals of ``a``'s values (null where the value is null)."""
    import pyarrow.compute as pc
    esc = _large(a)
    if pc.any(pc.match_substring_regex(esc, '["\\\\\\x00-\\x1f]')).as_py():
        esc = pc.replace_substring(pc.replace_substring(esc, "\\", "\\\\"), '"', '\\"')
        for c in range(0x20):  # rare: control characters, escaped one code at a time
            esc = pc.replace_substring(esc, chr(c), "\\u%04x" % c)
    return pc.binary_join_element_wise(_lit('"'), esc, _lit('"'), _lit(""))


def _by_value(f, a):
    """``f`` (an Arrow function of an array) over ``a``'s distinct values, spread back to
    every row: a campaign's messages are mostly a few templates."""
    d = _large(a).dictionary_encode()
    return f(d.dictionary).take(d.indices)


def _jsonl(ids, numbers, messages):
    """``{"id":…,"to":…,"body":…}`` lines (``to`` null, ``body`` absent where null)."""
    import pyarrow.compute as pc
    to = pc.fill_null(_json_strings(numbers), _lit("null"))
    if messages is None:
        body = _lit("")
    else:
        body = pc.fill_null(_by_value(lambda m: pc.binary_join_element_wise(
            _lit(',"body":'), _json_strings(m), _lit("")), messages), _lit(""))
    line = pc.binary_join_element_wise(
        _lit('{"id":'), _large(ids), _lit(',"to":'), to, body, _lit("}\n"), _lit(""))
    return _concat_bytes(line)


def _csv(ids, numbers, messages):
    """The records as CSV with a header ``id,to[,body]`` (pyarrow's writer: strings quoted,
    a null as an empty cell). Only for rows without a null message: CSV cannot tell a
    null message (jsonl: none, not stamped) from an empty one (stamped)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    cols = {"id": ids, "to": _large(numbers)}
    if messages is not None:
        cols["body"] = _large(messages)
    out = pa.BufferOutputStream()
    pcsv.write_csv(pa.table(cols), out)
    return out.getvalue().to_pybytes()


def _read_csv_answers(data):
    """The binary's csv output (allowed or rejects) as an Arrow table id/to/body/reason."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    t = pa.large_string()
    types = {"id": pa.int64(), "to": t, "body": t, "reason": t}
    if not data.strip():
        return pa.schema(list(types.items())).empty_table()
    return pcsv.read_csv(pa.BufferReader(data), convert_options=pcsv.ConvertOptions(
        column_types=types, include_columns=list(types), include_missing_columns=True,
        strings_can_be_null=False, quoted_strings_can_be_null=False))


def _merge_answers(ids, allowed, rejected):
    """(reason, message) per row of ``ids`` (ascending) from the binary's two outputs, each
    in input order: ``reason`` null for allowed rows. Raises unless every row id came back
    exactly once."""
    import pyarrow as pa
    import pyarrow.compute as pc
    a_ids = allowed.column("id").combine_chunks()
    r_ids = rejected.column("id").combine_chunks()
    if a_ids.null_count or r_ids.null_count:
        raise RuntimeError("sendfilter answered a record without an id")
    mask = pc.is_in(ids, value_set=a_ids)
    kept = pc.invert(mask)

    def same(x, y):
        return len(x) == len(y) and (len(x) == 0 or pc.all(pc.equal(x, y)).as_py())

    if not (same(pc.filter(ids, mask), a_ids) and same(pc.filter(ids, kept), r_ids)):
        raise RuntimeError("sendfilter's answers do not match the rows given "
                           "(%d allowed + %d rejected for %d rows)"
                           % (len(a_ids), len(r_ids), len(ids)))
    empty = pa.nulls(len(ids), pa.large_string())
    reason = pc.replace_with_mask(empty, kept, _large(rejected.column("reason")))
    message = pc.replace_with_mask(
        pc.replace_with_mask(empty, kept, _large(rejected.column("body"))),
        mask, _large(allowed.column("body")))
    return reason, message


def _read_answers(data):
    """The binary's jsonl output (allowed or rejects) as an Arrow table id/to/body/reason."""
    import pyarrow as pa
    import pyarrow.json as pj
    t = pa.large_string()
    schema = pa.schema([("id", pa.int64()), ("to", t), ("body", t), ("reason", t)])
    if not data.strip():
        return schema.empty_table()
    return pj.read_json(pa.BufferReader(data), parse_options=pj.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="ignore"))


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


def _char_class(chars):
    return "[" + "".join("\\x{%x}" % ord(c) for c in sorted(chars)) + "]"


def segments_array(messages):
    """``segments`` over an Arrow string array (int32, null where the message is null).

    Vectorised; only a long message holding a two-unit character (a GSM escape such as
    ``€``, or a character outside the BMP) is counted in Python, where a segment break may
    not split it."""
    import pyarrow as pa
    import pyarrow.compute as pc
    d = _large(messages).dictionary_encode()  # mostly a few templates: count each once
    return pc.cast(_segments_of(d.dictionary), pa.int32()).take(d.indices)


def _segments_of(m):
    """``segments`` of each value of the large_string array ``m`` (int64)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    gsm = pc.match_substring_regex(m, "^" + _char_class(_GSM_BASIC | _GSM_EXT) + "*$")
    ext = pc.count_substring_regex(m, _char_class(_GSM_EXT))
    astral = pc.count_substring_regex(m, "[\\x{10000}-\\x{10FFFF}]")
    wide = pc.cast(pc.if_else(gsm, ext, astral), pa.int64())
    units = pc.add(pc.cast(pc.utf8_length(m), pa.int64()), wide)
    single = pc.if_else(gsm, 160, 70)
    multi = pc.if_else(gsm, 153, 67)
    count = pc.if_else(pc.less_equal(units, single), 1,
                       pc.divide(pc.subtract(pc.add(units, multi), 1), multi))
    slow = pc.and_(pc.greater(units, single), pc.greater(wide, 0))
    if pc.any(slow).as_py():
        idx = pc.indices_nonzero(pc.fill_null(slow, False)).to_pylist()
        fixed = count.to_pylist()
        for i in idx:
            fixed[i] = segments(m[i].as_py())
        count = pa.array(fixed, pa.int64())
    return count


# ---- the Spark stages ----

def _flags(options):
    flags = []
    for k, v in sorted(options.items()):
        flag = "--" + k.replace("_", "-")
        if v is True:
            flags.append(flag)
        elif v not in (None, False):
            flags += [flag, str(v)]
    return flags


def _stages(df, extract_path, brand, purpose, number_col, message_col, binary, region,
            num_partitions, options):
    """(normalised, shuffled, decided, drop): the plan's DataFrames stage by stage, and the
    columns the result drops. The benchmark times each stage on its own."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyspark.sql import SparkSession, functions as F, types as T

    spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    manifest = verify_extract(extract_path, binary)
    if manifest["brand"] != brand or manifest["purpose"] != purpose:
        raise ValueError("extract %s is for %s/%s, not %s/%s" % (
            extract_path, manifest["brand"], manifest["purpose"], brand, purpose))
    for col in (number_col, message_col):
        if col is not None and col not in df.columns:
            raise ValueError("no column %r in the DataFrame (columns: %s)"
                             % (col, ", ".join(df.columns)))
    work = tempfile.mkdtemp(prefix="sendfilter-spark-")
    tar = _tar_extract(extract_path, manifest, work)
    sc.addFile(tar)
    sc.addPyFile(os.path.abspath(__file__))  # the executors run this module's functions
    sc.addFile(os.path.abspath(binary))
    tar_name, bin_name = os.path.basename(tar), os.path.basename(binary)
    flags = _flags(options)
    # Spark's Arrow type for strings: the batches handed back must use the same.
    large = spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")
    string = pa.large_string() if large.lower() == "true" else pa.string()
    parts = num_partitions or max(1, df.rdd.getNumPartitions())

    # Input columns with the names of added ones are kept under another name, then dropped.
    inner = {c: ("__sf_in_" + c if c in _ADDED else c) for c in df.columns}
    base = df.select([F.col("`%s`" % c).alias(inner[c]) for c in df.columns]) \
        .withColumn(_ID, F.monotonically_increasing_id())
    num_name = inner[number_col]
    msg_name = inner[message_col] if message_col else None
    e164_schema = T.StructType(base.schema.fields + [T.StructField("e164", T.StringType())])

    def normalise(batches):
        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        out = _run([_binary(bin_name), "normalize", "--region", region, "--threads", "1"],
                   _lines(table.column(num_name)))
        e164 = pc.split_pattern(pa.scalar(out.decode(), pa.large_string()), "\n").values
        if len(e164) != table.num_rows + 1 or e164[-1].as_py() != "":
            raise RuntimeError("normalize gave %d answers for %d rows"
                               % (len(e164) - 1, table.num_rows))
        e164 = e164[:table.num_rows]
        e164 = pc.cast(pc.if_else(pc.equal(e164, "INVALID"),
                                  pa.scalar(None, pa.large_string()), e164), string)
        for b in table.append_column("e164", e164).to_batches():
            yield b

    def decide(batches):
        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        ids = table.column(_ID).combine_chunks()
        if len(ids) > 1 and not pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
            table = table.take(pc.sort_indices(ids))  # Spark's sort not kept: sort here
            ids = table.column(_ID).combine_chunks()
        numbers = table.column(num_name)
        messages = table.column(msg_name) if msg_name else None
        # CSV (fast to write and read with Arrow) unless a message is null: then jsonl.
        csv = messages is None or messages.null_count == 0
        if csv:
            data, fmt = _csv(ids, numbers, messages), ["--format", "csv", "--number-column",
                                                       "to", "--message-column", "body"]
        else:
            data, fmt = _jsonl(ids, numbers, messages), ["--format", "jsonl", "--number-field",
                                                         "to", "--message-field", "body"]
        store = _local_extract(tar_name)
        fd, rejects = tempfile.mkstemp(prefix="sendfilter-rejects-")
        os.close(fd)
        try:
            out = _run([_binary(bin_name), "filter", "--store", store, "--brand", brand,
                        "--purpose", purpose, "--region", region, "--threads", "1",
                        "--rejects", rejects] + fmt + flags, data)
            with open(rejects, "rb") as f:
                rejected = f.read()
        finally:
            os.unlink(rejects)
        read = _read_csv_answers if csv else _read_answers
        reason, message = _merge_answers(ids, read(out), read(rejected))
        if csv and numbers.null_count:
            # A null number is an empty cell in CSV (INVALID_NUMBER); jsonl's null is
            # MALFORMED, as the pipe of these records as jsonl says.
            reason = pc.if_else(pc.is_null(_large(numbers)), _lit("MALFORMED"), reason)
        st = string
        verdict = pc.if_else(pc.is_null(reason), _lit("allow"), _lit("reject"))
        table = table.append_column("verdict", pc.cast(verdict, st)) \
            .append_column("reason", pc.cast(pc.fill_null(reason, "ALLOWED"), st)) \
            .append_column("message", pc.cast(message, st)) \
            .append_column("segments", segments_array(message))
        for b in table.to_batches():
            yield b

    normalised = base.mapInArrow(normalise, e164_schema)
    key = F.coalesce(F.col("e164"), F.concat(F.lit("#"), F.col(_ID).cast("string")))
    shuffled = normalised.repartition(parts, key).sortWithinPartitions(_ID)
    decided_schema = T.StructType(e164_schema.fields + [
        T.StructField("verdict", T.StringType()),
        T.StructField("reason", T.StringType()),
        T.StructField("message", T.StringType()),
        T.StructField("segments", T.IntegerType()),
    ])
    decided = shuffled.mapInArrow(decide, decided_schema)
    drop = [_ID] + [v for v in inner.values() if v.startswith("__sf_in_")]
    if message_col and message_col not in _ADDED:
        drop.append(message_col)
    return normalised, shuffled, decided, drop


def filter_campaign(df, extract_path, brand, purpose, number_col="number",
                    message_col=None, binary="sendfilter", region="NO",
                    num_partitions=None, **options):
    """Decides every row of ``df`` with ``sendfilter filter`` on the executors.

    ``extract_path``: a directory written by ``sendfilter extract`` (read on the driver).
    ``binary``: the sendfilter executable on the driver (shipped to the executors; it must
    run there: build it for their platform). ``region``: as ``filter --region`` (``"NO"``,
    ``"NO,SE"``). ``num_partitions``: partitions of the E.164 shuffle (default: the
    input's); each is decided by one process holding the partition in memory, so size it
    for about a million rows each. ``options``: more ``filter`` flags,
    ``snake_case=value`` (``True`` for a bare flag), e.g. ``shortcode="2401"``,
    ``soft_opt_in=True``, ``max_segments=3``, ``now="2026-03-15T09:59:59Z"``; ``store``,
    ``brand``, ``purpose``, ``format``, ``rejects``, ``threads`` and the input fields are
    set here.

    Returns the DataFrame with ``e164``, ``verdict``, ``reason``, ``message`` and
    ``segments`` added (``message`` replaces ``message_col`` when given), in no particular
    order. Raises before any row is decided when the extract is damaged.
    """
    _, _, decided, drop = _stages(df, extract_path, brand, purpose, number_col,
                                  message_col, binary, region, num_partitions, options)
    return decided.drop(*drop)
