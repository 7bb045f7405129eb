#!/usr/bin/env python3
"""Seeded, deterministic corpus of written phone numbers with the reference's verdicts.

Each output line is `region TAB input TAB expected TAB style TAB reparsed`, where
`expected` is the E.164 form given by Google's libphonenumber (Python `phonenumbers`, pinned
below) for `parse(input, region)` + `is_valid_number`, or `INVALID`, and `reparsed` is the
reference's answer for `expected` itself (region NO; empty when `expected` is INVALID). The input is escaped: `\\\\`,
`\\t`, `\\n`, `\\r` (everything else is literal UTF-8). `style` names the generator branch;
styles starting with `letters` have letters or surrounding words, where rejecting a number
the reference accepts is allowed.

    python3 tools/phonemeta/gen_corpus.py --seed 1 --n 150000 --out data/phone/corpus.tsv
    python3 tools/phonemeta/gen_corpus.py --seed 7 --n 100000 --out /tmp/heldout.tsv

Valid-looking numbers are drawn from the metadata's own type patterns (a small sampler
over Python's regex parse tree), then written in many real-world styles: E.164, IDD,
national with and without trunk prefix, grouping punctuation, Unicode spaces and dashes,
full-width digits, tel: URIs, extensions, surrounding text, keypad letters, and mutated,
too short, too long and garbage inputs.
"""
import argparse
import random
import re
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import re._parser as sre_parse
    import re._constants as C

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat
from phonenumbers import phonenumberutil as pu

WANT_VERSION = "9.0.43"
CORE = ["NO", "SE", "DK", "FI", "IS", "DE", "GB", "US", "PL", "NL", "FR", "ES"]
EXTRA = ["IT", "AT", "CH", "BE", "AU", "CA", "RU", "IN", "BR", "AR", "MX", "JP", "CN", "EE",
         "LT", "LV", "IE", "PT", "GR", "TR", "ZA", "NG", "AE", "SJ", "AX", "GG", "IM", "KZ"]
TYPES = ["mobile"] * 6 + ["fixed_line"] * 3 + ["toll_free", "premium_rate", "shared_cost",
                                               "voip", "personal_number", "pager", "uan",
                                               "voicemail"]
NONGEO = [800, 808, 870, 878, 881, 882, 883, 888, 979]


def reference(inp, region):
    try:
        n = phonenumbers.parse(inp, region)
    except phonenumbers.NumberParseException:
        return "INVALID"
    if not phonenumbers.is_valid_number(n):
        return "INVALID"
    return phonenumbers.format_number(n, PhoneNumberFormat.E164)


# --- random strings from metadata patterns -------------------------------------------------

_PARSED = {}


def sample(rng, pattern):
    tree = _PARSED.get(pattern)
    if tree is None:
        tree = _PARSED[pattern] = sre_parse.parse(pattern)
    out = []
    _emit(rng, tree, out)
    return "".join(out)


def _emit(rng, seq, out):
    for op, av in seq:
        if op is C.LITERAL:
            out.append(chr(av))
        elif op is C.IN:
            out.append(_pick_class(rng, av))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            hi = min(hi, lo + 6) if hi is not C.MAXREPEAT else lo + 3
            for _ in range(rng.randint(lo, hi)):
                _emit(rng, sub, out)
        elif op is C.SUBPATTERN:
            _emit(rng, av[-1], out)
        elif op is C.BRANCH:
            _emit(rng, rng.choice(av[1]), out)
        elif op is C.CATEGORY:
            out.append(str(rng.randrange(10)))
        elif op is C.AT:
            pass
        elif op is C.ANY:
            out.append(str(rng.randrange(10)))
        else:
            raise ValueError(op)


def _pick_class(rng, items):
    chars = []
    neg = False
    for op, av in items:
        if op is C.NEGATE:
            neg = True
        elif op is C.LITERAL:
            chars.append(chr(av))
        elif op is C.RANGE:
            chars.extend(chr(c) for c in range(av[0], av[1] + 1))
        elif op is C.CATEGORY:
            chars.extend("0123456789")
    if neg:
        chars = [d for d in "0123456789" if d not in chars]
    return rng.choice(chars or ["0"])


def meta_for(region):
    return PhoneMetadata.metadata_for_region(region)


def draw_nsn(rng, region, cc=None):
    """A national significant number drawn from one of region's type patterns."""
    m = meta_for(region) if cc is None else PhoneMetadata.metadata_for_nongeo_region(cc)
    for _ in range(8):
        t = rng.choice(TYPES)
        d = getattr(m, t)
        if d is None or not d.national_number_pattern:
            continue
        return sample(rng, d.national_number_pattern), t
    return sample(rng, m.general_desc.national_number_pattern), "general"


# --- writing styles ----------------------------------------------------------------------

SPACES = ["\u00a0", "\u2009", "\u202f", "\u3000", "\u2007", "\u200b", "\u2060", "\u00ad", "\t"]
DASHES = ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\uff0d", "~", "\u30fc"]


def group(rng, digits, sep=" "):
    out, i = [], 0
    while i < len(digits):
        k = rng.choice([2, 2, 3, 3, 4])
        out.append(digits[i:i + k])
        i += k
    return sep.join(out)


def fullwidth(s, rng):
    t = []
    for ch in s:
        if ch.isdigit() and rng.random() < 0.9:
            t.append(chr(0xFF10 + int(ch)))
        elif ch == "+":
            t.append("\uff0b" if rng.random() < 0.7 else "+")
        elif ch == " " and rng.random() < 0.5:
            t.append("\u3000")
        else:
            t.append(ch)
    return "".join(t)


def other_digits(s, rng):
    zero = rng.choice([0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE])
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in s)


def mutate(rng, digits):
    d = list(digits)
    r = rng.random()
    if r < 0.3 and d:
        i = rng.randrange(len(d))
        d[i] = str(rng.randrange(10))
    elif r < 0.55 and len(d) > 1:
        del d[rng.randrange(len(d))]
    elif r < 0.8:
        d.insert(rng.randrange(len(d) + 1), str(rng.randrange(10)))
    else:
        d += [str(rng.randrange(10)) for _ in range(rng.randint(1, 4))]
    return "".join(d)


def idd_for(region):
    p = meta_for(region).international_prefix or "00"
    if re.fullmatch(r"\d+", p):
        return p
    return {"RU": "810", "KZ": "810", "JP": "010", "AU": "0011", "FI": "00", "BR": "0014"}.get(region, "00")


def written(rng, default, country, nsn, cc):
    """(style, text) for a number of `country` (cc, nsn), read with default region."""
    np = None
    if country != "001":
        np = meta_for(country).national_prefix
    same = country == default or (cc == pu.country_code_for_region(default) and country != "001")
    r = rng.random()
    e = f"+{cc}{nsn}"
    if r < 0.16:
        return "e164", e
    if r < 0.24:
        return "intl_spaced", f"+{cc} {group(rng, nsn)}"
    if r < 0.29:
        sep = rng.choice(["-", ".", " - ", "/"])
        return "intl_sep", f"+{cc}{sep}{group(rng, nsn, sep)}"
    if r < 0.35:
        return "idd", f"{idd_for(default)}{cc}{nsn}"
    if r < 0.39:
        return "idd_spaced", f"{idd_for(default)} {cc} {group(rng, nsn, rng.choice([' ', '-']))}"
    if r < 0.52 and same:
        return "national", rng.choice([nsn, group(rng, nsn), group(rng, nsn, "-")])
    if r < 0.62 and same:
        p = np or ""
        g = group(rng, nsn, rng.choice([" ", "-", ""]))
        return "national_trunk", rng.choice([p + g, p + nsn, f"({p}){g}", f"({p}) {g}",
                                             f"{p}{nsn[:2]}-{nsn[2:]}", f"({p}{nsn[:3]}) {nsn[3:]}"])
    if r < 0.65 and same:
        return "national_own_cc", f"{cc}{nsn}"
    if r < 0.67:
        k = rng.random()
        if k < 0.4:
            return "intl_trunk", f"+{cc} ({np or '0'}){group(rng, nsn)}"
        if k < 0.55:
            return "intl_trunk", f"{idd_for(default)}{cc} ({np or '0'}) {group(rng, nsn)}"
        if k < 0.7:
            return "intl_paren", f"(+{cc}) {group(rng, nsn)}"
        if k < 0.8:
            return "intl_paren", f"+{cc} ({nsn[:3]}) {group(rng, nsn[3:], rng.choice([' ', '-']))}"
        if k < 0.9:
            return "no_plus_cc", f"{cc} {group(rng, nsn)}"
        return "two_numbers", rng.choice([f"{e} / {group(rng, nsn)}", f"{e}, {group(rng, nsn)}",
                                          f"{e}/{e}", f"{e} eller {e}"])
    if r < 0.71:
        sp = rng.choice(SPACES)
        base = f"+{cc} {group(rng, nsn)}" if rng.random() < 0.6 else (group(rng, (np or "") + nsn) if same else e)
        return "unicode_space", base.replace(" ", sp)
    if r < 0.73:
        d = rng.choice(DASHES)
        return "unicode_dash", f"+{cc}{d}{group(rng, nsn, d)}"
    if r < 0.76:
        base = f"+{cc} {group(rng, nsn)}" if rng.random() < 0.6 else ((np or "") + nsn if same else e)
        return "fullwidth", fullwidth(base, rng)
    if r < 0.77:
        return "other_digits", other_digits(e if rng.random() < 0.6 else nsn, rng)
    if r < 0.80:
        k = rng.random()
        if k < 0.5:
            return "tel_uri", f"tel:+{cc}-{group(rng, nsn, '-')}"
        if k < 0.8:
            return "tel_context", f"tel:{group(rng, nsn, '-')};phone-context=+{cc}"
        return "tel_context", f"tel:{nsn};phone-context={rng.choice(['example.com', 'a.b', '-x', ''])}"
    if r < 0.83:
        ws = rng.choice([" ", "  ", "\t", " \t", "\u00a0", "\ufeff"])
        return "whitespace", rng.choice([f"{ws}{e}{ws}", f"{ws}{group(rng, nsn)}{ws}", f"'{e}'", f'"{e}"', f"{e},", f"{e};", f"({e})", f"<{e}>"])
    if r < 0.86:
        word = rng.choice(["Tel: ", "tlf ", "mob.: ", "ring ", "call ", "Phone:", "mobil "])
        tail = rng.choice(["", " now", " (home)", " etter kl 16", ".", " !", " mvh"])
        return "letters_words", f"{word}{group(rng, nsn) if same else e}{tail}"
    if r < 0.88:
        ext = rng.choice([" ext. 12", " x123", " ext 7", ";ext=55", " #12", " tlg 3", " - 503#", ",,12"])
        return "letters_ext", f"{e}{ext}"
    if r < 0.89:
        s = list(nsn)
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        for i in rng.sample(range(len(s)), min(len(s), rng.randint(1, 5))):
            s[i] = rng.choice(letters + letters.lower())
        return "letters_keypad", rng.choice([f"+{cc} ", ""]) + "".join(s)
    if r < 0.93:
        return "mutated", rng.choice([f"+{cc}{mutate(rng, nsn)}", mutate(rng, nsn),
                                      f"{idd_for(default)}{cc}{mutate(rng, nsn)}",
                                      (np or "") + mutate(rng, nsn)])
    if r < 0.95:
        k = rng.randint(1, 6)
        return "short", rng.choice([f"+{cc}{nsn[:k]}", nsn[:k], f"+{nsn[:k]}", group(rng, nsn[:k + 2])])
    if r < 0.97:
        extra = "".join(str(rng.randrange(10)) for _ in range(rng.randint(1, 12)))
        return "long", rng.choice([f"+{cc}{nsn}{extra}", f"{nsn}{extra}", f"00{cc}{nsn}{extra}"])
    return "odd_plus", rng.choice([f"++{cc}{nsn}", f"+ {cc} {nsn}", f"+0{cc}{nsn}", f"{cc}+{nsn}",
                                   f"+{cc}{nsn}+", f"+({cc}){nsn}", f"+{cc}.{nsn}", f"*{cc}{nsn}"])


def garbage(rng):
    r = rng.random()
    if r < 0.2:
        return "garbage_digits", "".join(str(rng.randrange(10)) for _ in range(rng.randint(0, 25)))
    if r < 0.35:
        return "garbage_plus", "+" + "".join(str(rng.randrange(10)) for _ in range(rng.randint(0, 18)))
    if r < 0.5:
        alphabet = "0123456789 +-().#*xX/\\;:,abcæøåÆØÅ\u00a0\uff10\uff11"
        return "letters_garbage", "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
    if r < 0.6:
        return "letters_text", rng.choice(["hello", "N/A", "-", "", " ", "null", "ingen", "+", "00", "tel:",
                                           "ukjent nummer", "#N/A", "0", "+47", "47", "112", "1881"])
    if r < 0.7:
        return "long_line", "9" * rng.randint(240, 260)
    if r < 0.8:
        n = "".join(str(rng.randrange(10)) for _ in range(rng.randint(5, 12)))
        return "random_cc", f"+{rng.randint(1, 999)}{n}"
    if r < 0.9:
        n = "".join(str(rng.randrange(10)) for _ in range(rng.randint(6, 12)))
        return "random_national", rng.choice([n, "0" + n, "00" + n, "0" + group(rng, n)])
    s = "".join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x3000)])) for _ in range(rng.randint(1, 15)))
    return "letters_unicode", s


FUZZ_ATOMS = (list("0123456789") * 12 + list("+ -().#*xX/\\;:,~") +
              ["\u00a0", "\u2009", "\uff0b", "\uff11", "\u0661", "\u3000", "\u2013", "\u30fc",
               "\uff5e", "\u00ad", "\u200b", "ext", "ext.", "x", "tel:", ";phone-context=", ";isub=",
               ";ext=", "+47", "0047", "00", "0", "ab", "ABC", "\u00f1", "\u0301", "_", "#", "int",
               "\uff58", "\t", "'", '"', "..", "--", "  ", "\u00df", "\u0131", "\u017f", "\u212a",
               "\U0001d7ce", "\u00b2", "\u2460", "\u0663", "+1", "+44", "+358", "011", "0046"])


def fuzz(rng):
    """Random concatenations of the characters and fragments parsers trip over."""
    s = "".join(rng.choice(FUZZ_ATOMS) for _ in range(rng.randint(1, 16)))
    return ("letters_fuzz" if re.search(r"[^\W\d_]", s) else "fuzz"), s


TRUNK_REGIONS = ["AR", "BR", "MX", "CO", "CL", "PE", "KR", "JP", "CN", "IN", "IT", "RU", "KZ",
                 "BY", "UA", "HU", "GG", "IM", "JE", "AG", "BS", "SM", "NF", "CC", "CX", "MG",
                 "GA", "VA", "SJ", "AX", "RE", "YT", "GP", "BL", "MF", "CW", "BQ", "AU", "NZ",
                 "TR", "ID", "VN", "CH", "AT", "BE", "PT", "CZ", "HU", "LT", "IE", "GL", "FO"]
TRUNK_PREFIXES = ["", "0", "00", "01", "044", "045", "1", "8", "80", "810", "0 21", "015",
                  "15", "9", "0 15", "02", "06", "011", "001", "0011", "+", "+0", "8 10"]


def trunk_mix(rng):
    """(default region, style, text): numbers of plans with unusual national/carrier
    prefixes and transform rules, behind an assortment of real and wrong prefixes."""
    d = rng.choice(TRUNK_REGIONS)
    c = d if rng.random() < 0.7 else rng.choice(TRUNK_REGIONS)
    cc = pu.country_code_for_region(c)
    nsn, _ = draw_nsn(rng, c)
    p = rng.choice(TRUNK_PREFIXES)
    r = rng.random()
    if r < 0.3:
        s = p + nsn
    elif r < 0.5:
        s = p + " " + group(rng, nsn, rng.choice([" ", "-", ""]))
    elif r < 0.7:
        s = p + str(cc) + nsn
    elif r < 0.85:
        s = "+" + str(cc) + " " + p + " " + group(rng, nsn)
    else:
        k = rng.randint(1, 4)
        s = p + nsn[:k] + " 15 " + nsn[k:]
    return d, "trunk_mix", s


def escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=150000)
    ap.add_argument("--out", default="data/phone/corpus.tsv")
    a = ap.parse_args()
    if phonenumbers.__version__ != WANT_VERSION:
        sys.exit(f"need phonenumbers=={WANT_VERSION}, have {phonenumbers.__version__}")
    rng = random.Random(a.seed)
    all_regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("# region\tinput\texpected\tstyle\treparsed  (generated by tools/phonemeta/gen_corpus.py "
                f"--seed {a.seed} --n {a.n}; phonenumbers {phonenumbers.__version__})\n")
        for _ in range(a.n):
            default = rng.choice(CORE) if rng.random() < 0.85 else rng.choice(EXTRA)
            r = rng.random()
            if r < 0.05:
                style, text = garbage(rng)
            elif r < 0.10:
                style, text = fuzz(rng)
            elif r < 0.14:
                default, style, text = trunk_mix(rng)
            else:
                if r < 0.62:
                    country = default
                elif r < 0.86:
                    country = rng.choice(CORE)
                elif r < 0.97:
                    country = rng.choice(all_regions)
                else:
                    country = "001"
                if country == "001":
                    cc = rng.choice(NONGEO)
                    nsn, _ = draw_nsn(rng, None, cc)
                else:
                    cc = pu.country_code_for_region(country)
                    nsn, _ = draw_nsn(rng, country)
                style, text = written(rng, default, country, nsn, cc)
            expected = reference(text, default)
            # The reference's answer for its own answer (read with region NO): usually the
            # same, but not always (e.g. Belarusian +375 8 1... numbers lose their leading 8
            # again), and a faithful port must follow it there too.
            again = reference(expected, "NO") if expected != "INVALID" else ""
            f.write(f"{default}\t{escape(text)}\t{expected}\t{style}\t{again}\n")


if __name__ == "__main__":
    main()
