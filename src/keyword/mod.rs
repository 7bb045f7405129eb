//! Keyword parsing of an SMS text (inbound replies, footers, brand keywords): text → [`Keyword`] + optional brand word. Pure: no
//! store, no registry.
//!
//! The text is [`fold`]ed first: lower-cased, accents folded (`ä`→`a`, `ø`→`o`, `æ`→`ae`,
//! `é`→`e`, …), and every character that is not a letter or digit turned into a word
//! break, so case, accents, punctuation (`Stopp.`, `STOP!!`, `"stop"`) and surrounding or
//! repeated whitespace never matter. Then:
//!
//! 1. the whole message with the word breaks removed is tried as a keyword (`opt-out`,
//!    `STOP ALL`, `un subscribe`);
//! 2. a message of 2 to [`MAX_WORDS`] words whose first or last word is a keyword reads as
//!    that keyword with the other words as the brand word (`ACME STOPP`, `stopp acme`).
//!    When both ends are keywords the stronger one wins: STOP > START > CONFIRM > HELP
//!    (fail safe: `OK STOP` is a stop, with brand word `ok`), unless the brand word holds a
//!    negation (`ikke stopp`, `don't stop`);
//! 3. anything else is read for opt-out intent by [`intent`]: a stop keyword as the
//!    first word (after an optional brand word) whatever follows, or an opt-out phrase in
//!    one of five languages, is [`Keyword::Stop`]; the rest is [`Keyword::Unknown`], marked
//!    [`Parsed::unclear`] when it mentions messages or stopping or is a question.
//!
//! Compatibility forms (full-width, mathematical, circled letters, ligatures) are folded by
//! Unicode NFKC (`unicode-normalization`). Accents and the Cyrillic and Greek look-alikes
//! are folded by a small explicit table: the keywords are Nordic and English and the table
//! is the whole contract. A crate's confusable skeletons (UTS #39, `unicode-security`) were
//! not taken: a skeleton is a prototype for telling whether two strings look alike (both
//! sides skeletonised), not the letter a reply means, and it leaves letters without a
//! Latin look-alike alone, where the table transliterates the stop words (`СТОП` and
//! `ΣΤΟΠ` read `stop`).
//!
//! ```
//! use sendfilter::inbound::keyword::{Keyword, parse};
//! let p = parse("  Acme STOPP! ");
//! assert_eq!(p.keyword, Keyword::Stop);
//! assert_eq!(p.brand.as_deref(), Some("acme"));
//! assert_eq!(parse("hjälp").keyword, Keyword::Help);
//! assert_eq!(parse("stop sending me this please").keyword, Keyword::Stop);
//! assert_eq!(parse("Jeg vil ikke ha flere meldinger").keyword, Keyword::Stop);
//! assert!(parse("STOPPER DU?").unclear);
//! ```

pub mod intent;

use self::intent::Intent;

/// What an inbound message asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// Opt out (STOP, STOPP, AVMELD, UNSUBSCRIBE, …).
    Stop,
    /// Opt in (START, BEGIN), normally with a brand word.
    Start,
    /// Confirm a pending double opt-in (JA, YES, Y, OK).
    Confirm,
    /// Ask for help (HJELP, HJÄLP, HELP, INFO).
    Help,
    /// Anything else.
    Unknown,
}

impl Keyword {
    /// Fail-safe priority when both ends of a message are keywords (higher wins).
    fn rank(self) -> u8 {
        match self {
            Keyword::Stop => 4,
            Keyword::Start => 3,
            Keyword::Confirm => 2,
            Keyword::Help => 1,
            Keyword::Unknown => 0,
        }
    }
}

/// Longest message (in words, brand word included) that can still be a keyword message.
pub const MAX_WORDS: usize = 4;

/// Opt-out words (folded): NO, SE, DK, FI, and the EN words the large US gateways honour.
pub const STOP_WORDS: &[&str] = &[
    // NO
    "stopp",
    "stop",
    "avmeld",
    "avmelde",
    "avslutt",
    "slutt",
    // SE
    "stoppa",
    "sluta",
    "avregistrera",
    "avsluta",
    "avanmal",
    // DK
    "afmeld",
    "afmelde",
    // FI
    "lopeta",
    "loppu",
    "lopetus",
    "lopetan",
    "peru",
    "peruuta",
    // EN
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "stopall",
    "optout",
    "revoke",
];
/// Opt-in words (folded).
pub const START_WORDS: &[&str] = &["start", "begin"];
/// Confirmation words (folded).
pub const CONFIRM_WORDS: &[&str] = &["ja", "yes", "y", "ok", "kylla"];
/// Help words (folded).
pub const HELP_WORDS: &[&str] = &["hjelp", "hjalp", "hjaelp", "help", "info", "apua"];

/// A parsed inbound message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The keyword.
    pub keyword: Keyword,
    /// The brand word(s), folded and joined by single spaces (`acme`), if any.
    pub brand: Option<String>,
    /// For [`Keyword::Unknown`]: the text is not clearly unrelated (it mentions messages,
    /// stopping, has a negated stop, or is a question), so a human should look at it.
    pub unclear: bool,
}

/// The keyword a single folded word is, if any.
pub fn keyword_of(word: &str) -> Option<Keyword> {
    let is = |list: &[&str]| list.contains(&word);
    if is(STOP_WORDS) {
        Some(Keyword::Stop)
    } else if is(START_WORDS) {
        Some(Keyword::Start)
    } else if is(CONFIRM_WORDS) {
        Some(Keyword::Confirm)
    } else if is(HELP_WORDS) {
        Some(Keyword::Help)
    } else {
        None
    }
}

/// The Latin letter a Cyrillic or Greek letter is written for in a reply: its look-alike
/// (`Ѕ`, `Т`, `О`, `Р` in `ЅТОР`; `Α`, `Ο`, `Τ`), or where it has none its transliteration
/// in the stop words (`П` → `p`, `С` → `s`, so the Russian `СТОП` reads `stop`, as do the
/// Greek `ΣΤΟΠ`); other characters as they are.
fn confusable(c: char) -> char {
    match c {
        'А' | 'а' | 'Α' | 'α' => 'a',
        'В' | 'в' | 'Β' | 'β' => 'b',
        'Е' | 'е' | 'Ё' | 'ё' | 'Ε' | 'ε' => 'e',
        'Ѕ' | 'ѕ' | 'С' | 'с' | 'Σ' | 'σ' | 'ς' => 's',
        'І' | 'і' | 'Ї' | 'ї' | 'Ι' | 'ι' => 'i',
        'Ј' | 'ј' => 'j',
        'К' | 'к' | 'Κ' | 'κ' => 'k',
        'М' | 'м' | 'Μ' | 'μ' => 'm',
        'Н' | 'н' | 'Η' | 'η' => 'h',
        'О' | 'о' | 'Ο' | 'ο' => 'o',
        'Р' | 'р' | 'Ρ' | 'ρ' | 'П' | 'п' | 'Π' | 'π' => 'p',
        'Т' | 'т' | 'Τ' | 'τ' => 't',
        'У' | 'у' | 'Υ' | 'υ' => 'y',
        'Х' | 'х' | 'Χ' | 'χ' => 'x',
        'Ζ' | 'ζ' => 'z',
        'Ν' | 'ν' => 'n',
        'Ԁ' | 'ԁ' => 'd',
        'Ԛ' | 'ԛ' => 'q',
        'Ԝ' | 'ԝ' => 'w',
        'Ү' | 'ү' => 'y',
        _ => c,
    }
}

/// Folds one (NFKC) character into `out`: lower case, accents removed, look-alikes Latin;
/// invisible format characters (soft hyphen, zero-width joiners, word joiner, byte-order
/// mark, direction marks) vanish; anything else that is not a letter or digit becomes a
/// space.
fn fold_char(c: char, out: &mut String) {
    if matches!(
        c,
        '\u{AD}'
            | '\u{180E}'
            | '\u{200C}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    ) {
        return;
    }
    for l in confusable(c).to_lowercase() {
        // A capital whose small letter is a look-alike folds as that letter does (fold
        // stays idempotent: `Ԛ` → `ԛ` → `q` in one pass).
        let l = confusable(l);
        let s: &str = match l {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => "a",
            'æ' | 'ǽ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'ð' | 'ď' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' | 'œ' => "o",
            'ß' => "ss",
            'š' | 'ś' => "s",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ű' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ž' | 'ź' | 'ż' => "z",
            // Combining marks (a decomposed "a" + "¨") vanish.
            '\u{300}'..='\u{36f}' => "",
            l if l.is_alphanumeric() => {
                out.push(l);
                continue;
            }
            _ => " ",
        };
        out.push_str(s);
    }
}

/// Folds `text` for comparison: lower case, accents folded, every run of non-alphanumeric
/// characters one space, no leading or trailing space. Brand keywords in the registry are
/// compared in this form.
///
/// ```
/// assert_eq!(sendfilter::inbound::keyword::fold("  ÆRØ-Café!! "), "aero cafe");
/// ```
pub fn fold(text: &str) -> String {
    use unicode_normalization::{IsNormalized, UnicodeNormalization as _, is_nfkc_quick};
    let mut raw = String::with_capacity(text.len());
    // Compatibility forms first (Unicode NFKC): full-width `ＳＴＯＰ` as East Asian
    // keyboards type it, the mathematical alphanumerics `𝐒𝐓𝐎𝐏` of "fancy text"
    // generators, circled and super/subscript letters, ligatures (`ﬁ`) all become the
    // plain letters; most replies are already NFKC and skip the pass.
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        for c in text.chars() {
            fold_char(c, &mut raw);
        }
    } else {
        for c in text.nfkc() {
            fold_char(c, &mut raw);
        }
    }
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses an inbound message (see the module docs for the rules). Never panics.
pub fn parse(text: &str) -> Parsed {
    let folded = fold(text);
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let unknown = Parsed { keyword: Keyword::Unknown, brand: None, unclear: false };
    if words.is_empty() {
        return unknown;
    }
    if let Some(k) = keyword_of(&words.concat()) {
        return Parsed { keyword: k, brand: None, unclear: false };
    }
    if (2..=MAX_WORDS).contains(&words.len())
        && let Some(p) = grammar(&words)
    {
        return p;
    }
    // Free text: opt-out intent (first word, phrases), or unclear.
    let question = text.contains(['?', '？', '¿']);
    match intent::classify(&folded, question) {
        Intent::Stop { brand } => Parsed {
            keyword: Keyword::Stop,
            brand: brand.and_then(|i| words.get(i)).map(|w| w.to_string()),
            unclear: false,
        },
        Intent::Unclear => Parsed { unclear: true, ..unknown },
        Intent::Unrelated => unknown,
    }
}

/// Rule 2 of the module docs: a keyword at either end of 2 to [`MAX_WORDS`] words, the
/// other words the brand word; `None` when neither end is a keyword or the brand word holds
/// a negation (`ikke stopp`, `don't stop`: not an opt-out, left to [`intent`]).
fn grammar(words: &[&str]) -> Option<Parsed> {
    let n = words.len();
    let first = keyword_of(words[0]).map(|k| (k, &words[1..]));
    let last = keyword_of(words[n - 1]).map(|k| (k, &words[..n - 1]));
    let pick = match (first, last) {
        (Some(f), Some(l)) => {
            if l.0.rank() > f.0.rank() {
                l
            } else {
                f
            }
        }
        (Some(f), None) => f,
        (None, Some(l)) => l,
        (None, None) => return None,
    };
    let lex = intent::Lexicon::get();
    // The brand words sit at `off..off + len` in `words`.
    let off = if std::ptr::eq(pick.1.as_ptr(), words[1..].as_ptr()) { 1 } else { 0 };
    let negated = pick.1.iter().enumerate().any(|(i, w)| {
        // A bare `t` is the tail of a contraction (`don't` folds to `don t`): a negation
        // only right after its stem (`don`, `can`, `won`, `didn`, …), never as a brand word
        // of its own (`T STOPP` is a STOP to brand T).
        lex.is_negation(w)
            && (*w != "t" || (off + i).checked_sub(1).is_some_and(|j| words[j].ends_with('n')))
    });
    if negated {
        return None;
    }
    Some(Parsed { keyword: pick.0, brand: Some(pick.1.join(" ")), unclear: false })
}

#[cfg(test)]
mod tests;
