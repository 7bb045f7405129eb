#!/usr/bin/env python3
"""Dump Google's libphonenumber metadata (via Python `phonenumbers`) into static Rust tables.

Writes src/phone/metadata_gen.rs. Deterministic: the same phonenumbers version gives the
same bytes. Re-run after `pip install phonenumbers==<new>` and commit the result:

    python3 tools/phonemeta/gen_metadata.py [--out src/phone/metadata_gen.rs]

Besides the per-region numbering plans it dumps the few character tables the parser needs
to agree with the reference exactly: Python's `\\d` (Unicode Nd) and `\\w` as used by
`re`, and the parser's own top-level regexes (viability and extension patterns).
"""
import argparse
import re
import sys
import unicodedata

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers import phonenumberutil as pu

WANT_VERSION = "9.0.43"
# Order matters: it is the order _number_type_helper tests the types in.
TYPES = ["premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
         "uan", "voicemail", "fixed_line", "mobile"]


def rstr(s):
    """A Rust string literal for s (ASCII escapes for everything unusual)."""
    if s is None:
        return "None"
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        else:
            out.append("\\u{%x}" % o)
    return '"' + "".join(out) + '"'


def opt(s):
    return "None" if s is None or s == "" else "Some(%s)" % rstr(s)


def lengths(t):
    """(mask, first, last, has_list) of a possible_length tuple; -1 entries never match."""
    mask = 0
    for x in t:
        if x > 0:
            assert x < 32, x
            mask |= 1 << x
    first = t[0] if t else 0
    last = t[-1] if t else 0
    return mask, max(first, 0), max(last, 0), len(t) > 0


def desc(d):
    if d is None:
        return "None"
    mask, _, _, has = lengths(tuple(d.possible_length))
    lmask, _, _, _ = lengths(tuple(d.possible_length_local_only))
    return ("Some(Desc { pattern: %s, lengths: %s, local_only: %#x })"
            % (opt(d.national_number_pattern), ("Some(%#x)" % mask) if has else "None", lmask))


def transform(rule):
    """Python replacement '268\\1' -> Rust-side template (kept in Python syntax)."""
    if rule is None or rule == "":
        return "None"
    assert re.fullmatch(r"(?:\d|\\\d)+", rule), rule
    return "Some(%s)" % rstr(rule)


def meta_entry(m, cc, rid):
    g = m.general_desc
    assert g is not None and len(g.possible_length) > 0, rid
    gmask, gfirst, glast, _ = lengths(tuple(g.possible_length))
    glocal, _, _, _ = lengths(tuple(g.possible_length_local_only))
    types = ",\n            ".join(desc(getattr(m, t)) for t in TYPES)
    return f"""    Meta {{
        id: {rstr(rid)},
        country_code: {cc},
        international_prefix: {opt(m.international_prefix)},
        national_prefix_for_parsing: {opt(m.national_prefix_for_parsing)},
        national_prefix_transform_rule: {transform(m.national_prefix_transform_rule)},
        leading_digits: {opt(m.leading_digits)},
        same_mobile_and_fixed_line_pattern: {str(bool(m.same_mobile_and_fixed_line_pattern)).lower()},
        general: GeneralDesc {{
            pattern: {opt(g.national_number_pattern)},
            lengths: {gmask:#x},
            first_length: {gfirst},
            last_length: {glast},
            local_only: {glocal:#x},
        }},
        types: [
            {types},
        ],
    }},
"""


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        ok = pred(chr(cp))
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="src/phone/metadata_gen.rs")
    a = ap.parse_args()
    if phonenumbers.__version__ != WANT_VERSION:
        sys.exit(f"need phonenumbers=={WANT_VERSION}, have {phonenumbers.__version__}")

    metas = []  # (id, cc, metadata)
    cc_regions = []  # (cc, [indices])
    for cc in sorted(pu.COUNTRY_CODE_TO_REGION_CODE):
        idx = []
        for rid in pu.COUNTRY_CODE_TO_REGION_CODE[cc]:
            if rid == "001":
                m = PhoneMetadata.metadata_for_nongeo_region(cc)
            else:
                m = PhoneMetadata.metadata_for_region(rid)
            assert m is not None and m.country_code == cc, (cc, rid)
            idx.append(len(metas))
            metas.append((rid, cc, m))
        cc_regions.append((cc, idx))
    geo = sorted((rid, i) for i, (rid, _, _) in enumerate(metas) if rid != "001")
    assert len({r for r, _ in geo}) == len(geo)

    nd = ranges(lambda c: re.match(r"\d", c) is not None)
    for lo, hi in nd:
        # Nd digits come in runs of ten starting at zero; normalisation relies on it.
        assert (hi - lo + 1) % 10 == 0 and unicodedata.digit(chr(lo)) == 0, (hex(lo), hex(hi))
    word = ranges(lambda c: re.match(r"\w", c) is not None)

    o = []
    o.append("// @generated by tools/phonemeta/gen_metadata.py from Python phonenumbers "
             f"{phonenumbers.__version__}\n// (libphonenumber metadata). Do not edit by hand; "
             "re-run the generator.\n\n")
    o.append("use super::meta::{Desc, GeneralDesc, Meta};\n\n")
    o.append(f"/// Version of the libphonenumber metadata these tables come from.\n"
             f"pub const METADATA_VERSION: &str = {rstr(phonenumbers.__version__)};\n\n")
    o.append(f"/// Number of numbering plans in METADATA.\npub const META_COUNT: usize = {len(metas)};\n\n")
    o.append("/// Every numbering plan: geographic regions and non-geographic entities (`001`).\n"
             "pub static METADATA: [Meta; META_COUNT] = [\n")
    for rid, cc, m in metas:
        o.append(meta_entry(m, cc, rid))
    o.append("];\n\n")
    o.append("/// Country calling code -> indices into METADATA, main region first (reference order).\n"
             f"pub static CC_REGIONS: [(u16, &[u16]); {len(cc_regions)}] = [\n")
    for cc, idx in cc_regions:
        o.append(f"    ({cc}, &[{', '.join(map(str, idx))}]),\n")
    o.append("];\n\n")
    lookup = [0] * 1000
    for i, (cc, _) in enumerate(cc_regions):
        lookup[cc] = i + 1
    o.append("/// Country calling code (0..1000) -> 1 + index into CC_REGIONS, 0 when unassigned.\n"
             "pub static CC_LOOKUP: [u8; 1000] = [\n")
    for k in range(0, 1000, 25):
        o.append("    " + ", ".join(str(x) for x in lookup[k:k + 25]) + ",\n")
    o.append("];\n\n")
    o.append("/// Region code -> index into METADATA, sorted by code.\n"
             f"pub static REGION_INDEX: [([u8; 2], u16); {len(geo)}] = [\n")
    for rid, i in geo:
        o.append(f"    (*b\"{rid}\", {i}),\n")
    o.append("];\n\n")
    no = dict(geo)["NO"]
    o.append(f"/// Index of Norway in METADATA.\npub const NO_INDEX: u16 = {no};\n\n")
    o.append("/// Unicode Nd ranges (Python `re` `\\d`); each range is whole runs of 0..=9.\n"
             f"pub static ND_RANGES: [(u32, u32); {len(nd)}] = [\n")
    for lo, hi in nd:
        o.append(f"    ({lo:#x}, {hi:#x}),\n")
    o.append("];\n\n")
    o.append("/// Python `re` `\\w` ranges (str.isalnum() or `_`).\n"
             f"pub static WORD_RANGES: [(u32, u32); {len(word)}] = [\n")
    for lo, hi in word:
        o.append(f"    ({lo:#x}, {hi:#x}),\n")
    o.append("];\n\n")
    o.append("/// The reference's VALID_PHONE_NUMBER_PATTERN source (used with fullmatch, case-insensitive).\n"
             f"pub const VALID_PHONE_NUMBER: &str = {rstr(pu._VALID_PHONE_NUMBER_PATTERN.pattern)};\n\n")
    o.append("/// The reference's EXTN_PATTERN source (searched, case-insensitive).\n"
             f"pub const EXTN_PATTERN: &str = {rstr(pu._EXTN_PATTERN.pattern)};\n")
    o.append("\n/// The reference's RFC 3966 global-number-digits pattern (phone-context values).\n"
             f"pub const RFC3966_GLOBAL_NUMBER_DIGITS: &str = {rstr(pu._RFC3966_GLOBAL_NUMBER_DIGITS_PATTERN.pattern)};\n\n")
    o.append("/// The reference's RFC 3966 domain-name pattern (phone-context values).\n"
             f"pub const RFC3966_DOMAINNAME: &str = {rstr(pu._RFC3966_DOMAINNAME_PATTERN.pattern)};\n")
    with open(a.out, "w", encoding="ascii") as f:
        f.write("".join(o))
    print(f"wrote {a.out}: {len(metas)} plans, {len(cc_regions)} calling codes, "
          f"{len(nd)} Nd ranges, {len(word)} word ranges", file=sys.stderr)


if __name__ == "__main__":
    main()
