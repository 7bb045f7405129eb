#!/usr/bin/env python3
"""Score `sendfilter normalize` end to end against the reference on a corpus.

Either scores an existing corpus (TSV from gen_corpus.py) or makes a fresh held-out one
with another seed first, then feeds every line through the real binary (one run per
default region) and compares with the reference's answers:

    cargo build --release
    python3 tools/phonemeta/check_agreement.py --seed 7 --n 200000
    python3 tools/phonemeta/check_agreement.py --corpus data/phone/corpus.tsv

Inputs containing a line break cannot travel through a line-oriented CLI and are skipped
(counted). The same bars as the Rust corpus test are checked; exit status 1 if one fails.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append({"t": "\t", "n": "\n", "r": "\r"}.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "sendfilter"))
    a = ap.parse_args()
    path = a.corpus
    if path is None:
        path = os.path.join(tempfile.gettempdir(), f"phone_heldout_{a.seed}_{a.n}.tsv")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_corpus.py"), "--seed", str(a.seed),
                        "--n", str(a.n), "--out", path], check=True)
    by_region = collections.defaultdict(list)
    skipped = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            region, inp, expected, style = (line.rstrip("\n").split("\t") + [""])[:4]
            inp = unescape(inp)
            if "\n" in inp or "\r" in inp:
                skipped += 1
                continue
            by_region[region].append((inp, expected, style))
    tot = agree = wrong = acc_inv = ref_inv = rej_plain = ref_val_plain = rej_letters = 0
    per = {}
    for region in sorted(by_region):
        cases = by_region[region]
        data = "".join(c[0] + "\n" for c in cases).encode("utf-8")
        out = subprocess.run([a.bin, "normalize", "--region", region], input=data,
                             capture_output=True, check=True).stdout.decode().split("\n")[:-1]
        assert len(out) == len(cases), (region, len(out), len(cases))
        ok = 0
        for (inp, exp, style), got in zip(cases, out):
            letters = style.startswith("letters")
            ref_inv += exp == "INVALID"
            ref_val_plain += exp != "INVALID" and not letters
            if got == exp:
                ok += 1
                continue
            if got == "INVALID":
                if letters:
                    rej_letters += 1
                else:
                    rej_plain += 1
            elif exp == "INVALID":
                acc_inv += 1
            else:
                wrong += 1
            print(f"  {region} {inp!r} ({style}) want {exp} got {got}")
        per[region] = (ok, len(cases))
        tot += len(cases)
        agree += ok
    pct = lambda x, y: 100.0 * x / y if y else 0.0
    print(f"corpus {path}: {tot} cases through {a.bin} ({skipped} with line breaks skipped)")
    print(f"  agreement        {pct(agree, tot):.3f} %")
    print(f"  wrong numbers    {wrong}")
    print(f"  accepted invalid {acc_inv} / {ref_inv} ({pct(acc_inv, ref_inv):.3f} %)")
    print(f"  rejected valid   {rej_plain} / {ref_val_plain} ({pct(rej_plain, ref_val_plain):.3f} %), "
          f"plus {rej_letters} with letters/words")
    worst = min(pct(o, t) for o, t in per.values())
    print("  per region: " + ", ".join(f"{r} {pct(o, t):.2f}" for r, (o, t) in sorted(per.items())))
    bad = (wrong > 0 or pct(acc_inv, ref_inv) > 0.3 or pct(rej_plain, ref_val_plain) > 0.5
           or pct(agree, tot) < 99.0 or worst < 98.0)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
