//! Spreadsheet exports as Nordic users make them: `;`-separated (the list separator where
//! the decimal mark is a comma), Windows-1252 (the default "CSV" encoding of spreadsheets
//! there), and long numbers shown in scientific notation (`4.79123E+10`).
//!
//! This module recognises them and says so; [`Decoded`] reads Windows-1252 as UTF-8 so the
//! CSV readers, which all read UTF-8, need no change (the default UTF-8 path is not
//! touched: the caller wraps its input only when asked to).

use std::io::{self, Read};

/// The Windows-1252 encoding, for [`Decoded::new`].
pub use encoding_rs::WINDOWS_1252;

/// The field separators a CSV reader accepts (`--delimiter`).
pub const DELIMITERS: &str = "`,` (default), `;`, `tab` or `|`";

/// Parses a `--delimiter` value: `,`, `;`, `|`, or a tab (`tab`, `\t` or the character).
///
/// # Errors
/// Anything else, as a message naming the accepted values.
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "," => Ok(b','),
        ";" => Ok(b';'),
        "|" => Ok(b'|'),
        "tab" | "TAB" | "\\t" | "\t" => Ok(b'\t'),
        _ => Err(format!("{s:?} is not a field separator: use {DELIMITERS}")),
    }
}

/// How a separator is written in messages and on the command line.
pub fn delimiter_name(d: u8) -> &'static str {
    match d {
        b',' => ",",
        b';' => ";",
        b'|' => "|",
        b'\t' => "tab",
        _ => "?",
    }
}

/// When a header line holds no `delimiter` but another separator: a message saying which
/// and how to read the file, e.g. for a `;`-separated spreadsheet export read as CSV.
///
/// ```
/// let hint = sendfilter::spreadsheet::delimiter_hint(b"number;message", b',').unwrap();
/// assert!(hint.contains("--delimiter ';'"));
/// assert!(sendfilter::spreadsheet::delimiter_hint(b"number,message", b',').is_none());
/// ```
pub fn delimiter_hint(header: &[u8], delimiter: u8) -> Option<String> {
    if header.contains(&delimiter) {
        return None;
    }
    let (other, n) = [b';', b'\t', b'|']
        .into_iter()
        .filter(|&c| c != delimiter)
        .map(|c| (c, header.iter().filter(|&&b| b == c).count()))
        .max_by_key(|&(_, n)| n)?;
    (n > 0).then(|| {
        format!(
            "the header has no {:?} but {n} {:?}: a {}-separated file (as spreadsheets export \
             where the decimal mark is a comma)? Read it with --delimiter '{}'",
            delimiter_name(delimiter),
            delimiter_name(other),
            delimiter_name(other),
            delimiter_name(other)
        )
    })
}

/// The text encoding of an input (`--encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (the default; a BOM is allowed).
    #[default]
    Utf8,
    /// Windows-1252, the default of spreadsheets' "CSV" export in the Nordics: decoded to
    /// UTF-8 before the reader.
    Windows1252,
}

impl std::str::FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Encoding, String> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "windows-1252" | "cp1252" | "windows1252" => Ok(Encoding::Windows1252),
            _ => Err(format!("unknown encoding {s:?}: use utf-8 (default) or windows-1252")),
        }
    }
}

impl Encoding {
    /// `input` read as UTF-8: itself for [`Encoding::Utf8`], else decoded.
    pub fn reader<'a, R: Read + 'a>(self, input: R) -> Box<dyn Read + 'a> {
        match self {
            Encoding::Utf8 => Box::new(input),
            Encoding::Windows1252 => Box::new(Decoded::new(input, encoding_rs::WINDOWS_1252)),
        }
    }
}

/// The letters that tell a Nordic Windows-1252 text from other bytes: æ ø å ä ö Æ Ø Å Ä Ö.
const NORDIC_1252: [u8; 10] = [0xE6, 0xF8, 0xE5, 0xE4, 0xF6, 0xC6, 0xD8, 0xC5, 0xC4, 0xD6];

/// Why `bytes` (the start of an input) is not UTF-8, or `None` when it is (a character cut
/// off at the end of `bytes` does not count).
///
/// ```
/// use sendfilter::spreadsheet::{NotUtf8, not_utf8};
/// assert_eq!(not_utf8("blåbær".as_bytes()), None);
/// assert_eq!(not_utf8(b"bl\xe5b\xe6r"), Some(NotUtf8::LooksLikeWindows1252));
/// ```
pub fn not_utf8(bytes: &[u8]) -> Option<NotUtf8> {
    match simdutf8::compat::from_utf8(bytes) {
        Ok(_) => None,
        Err(e) if e.error_len().is_none() => {
            // Only the last character is cut off: the rest is UTF-8.
            simdutf8::basic::from_utf8(&bytes[..e.valid_up_to()]).err().map(|_| NotUtf8::Other)
        }
        Err(_) => Some(if bytes.iter().any(|b| NORDIC_1252.contains(b)) {
            NotUtf8::LooksLikeWindows1252
        } else {
            NotUtf8::Other
        }),
    }
}

/// What [`not_utf8`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotUtf8 {
    /// Not UTF-8, with Nordic letters where Windows-1252 puts them.
    LooksLikeWindows1252,
    /// Not UTF-8.
    Other,
}

impl NotUtf8 {
    /// A sentence for summaries and errors.
    pub fn explain(self) -> &'static str {
        match self {
            NotUtf8::LooksLikeWindows1252 => {
                "the input is not UTF-8: it looks like Windows-1252 (a spreadsheet's default CSV \
                 encoding), so text with æ, ø, å, ä or ö cannot be read; pass --encoding \
                 windows-1252, or export as \"CSV UTF-8\""
            }
            NotUtf8::Other => {
                "the input is not UTF-8, so text in it cannot be read (if it is a Windows-1252 \
                 spreadsheet export, pass --encoding windows-1252)"
            }
        }
    }
}

/// True when `raw` is a number in scientific notation (`4.79123E+10`, `4,79123E+10`): what
/// a spreadsheet shows for a long number in a cell formatted as a number, and exports so.
/// The digits after the fourth or so are lost, so the number cannot be recovered.
///
/// ```
/// use sendfilter::spreadsheet::is_scientific;
/// assert!(is_scientific(b"4.79123E+10"));
/// assert!(is_scientific(b" 4,79123e10"));
/// assert!(!is_scientific(b"+4791234567"));
/// assert!(!is_scientific(b"E+10"));
/// ```
pub fn is_scientific(raw: &[u8]) -> bool {
    let s = raw.trim_ascii();
    let Some(e) = s.iter().position(|&b| b == b'e' || b == b'E') else { return false };
    let (mantissa, exp) = (&s[..e], &s[e + 1..]);
    let mantissa = mantissa.strip_prefix(b"+").unwrap_or(mantissa);
    let exp = exp.strip_prefix(b"+").unwrap_or(exp);
    let mut parts = mantissa.splitn(2, |&b| b == b'.' || b == b',');
    let int = parts.next().unwrap_or_default();
    let frac = parts.next().unwrap_or_default();
    !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && frac.iter().all(u8::is_ascii_digit)
        && !exp.is_empty()
        && exp.iter().all(u8::is_ascii_digit)
}

/// The summary line's sentence for `n` numbers in scientific notation.
pub fn explain_scientific(n: u64) -> String {
    format!(
        "{n} INVALID_NUMBER in scientific notation (like 4.79123E+10): a spreadsheet turned \
         the number column into numbers and dropped digits; format the column as text and \
         export again"
    )
}

/// A reader giving `inner`'s text, in `encoding`, as UTF-8 (`encoding_rs`'s streaming
/// decoder; Windows-1252 maps every byte, so nothing is replaced).
pub struct Decoded<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Box<[u8]>,
    in_at: usize,
    in_len: usize,
    out: Box<[u8]>,
    out_at: usize,
    out_len: usize,
    eof: bool,
    done: bool,
}

/// Input bytes decoded per step.
const DECODE_CHUNK: usize = 64 << 10;

impl<R: Read> Decoded<R> {
    /// Decodes `inner` from `encoding`.
    pub fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Decoded<R> {
        let decoder = encoding.new_decoder_without_bom_handling();
        // Enough room for a whole input chunk (a Windows-1252 byte is at most 3 UTF-8 bytes).
        let room = decoder.max_utf8_buffer_length(DECODE_CHUNK).unwrap_or(4 * DECODE_CHUNK);
        Decoded {
            inner,
            decoder,
            input: vec![0; DECODE_CHUNK].into_boxed_slice(),
            in_at: 0,
            in_len: 0,
            out: vec![0; room].into_boxed_slice(),
            out_at: 0,
            out_len: 0,
            eof: false,
            done: false,
        }
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_at < self.out_len || buf.is_empty() {
                let n = buf.len().min(self.out_len - self.out_at);
                buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
                self.out_at += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            if self.in_at == self.in_len && !self.eof {
                self.in_len = self.inner.read(&mut self.input)?;
                self.in_at = 0;
                self.eof = self.in_len == 0;
            }
            let (result, read, written, _) = self.decoder.decode_to_utf8(
                &self.input[self.in_at..self.in_len],
                &mut self.out,
                self.eof,
            );
            self.in_at += read;
            (self.out_at, self.out_len) = (0, written);
            if self.eof && result == encoding_rs::CoderResult::InputEmpty {
                self.done = true;
            }
        }
    }
}

/// `input`, separated by `delimiter`, as comma-separated CSV: each record is read with
/// the `csv` crate and written again (quoted where a comma now needs it) as soon as it is
/// read, so a slow stream (inbound replies) is passed on record by record. For readers that
/// only take commas; a read error ends the output with that error.
pub fn recomma<R: Read + Send + 'static>(input: R, delimiter: u8) -> impl Read + Send + 'static {
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(64);
    std::thread::spawn(move || {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut rec = csv::ByteRecord::new();
        loop {
            let line = match rdr.read_byte_record(&mut rec) {
                Ok(false) => return,
                Ok(true) => {
                    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
                    match w.write_byte_record(&rec) {
                        Err(e) => Err(io::Error::other(e)),
                        Ok(()) => w.into_inner().map_err(|e| io::Error::other(e.to_string())),
                    }
                }
                Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            };
            let stop = line.is_err();
            if tx.send(line).is_err() || stop {
                return;
            }
        }
    });
    Recomma { rx, buf: Vec::new(), at: 0 }
}

struct Recomma {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for Recomma {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(line) => (self.buf, self.at) = (line?, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter("\t"), Ok(b'\t'));
        assert_eq!(parse_delimiter("|"), Ok(b'|'));
        for bad in ["", ";;", "\"", "a", "\n", " "] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
        let hint = delimiter_hint(b"tlf;navn;melding", b',').unwrap();
        assert!(hint.contains("2 \";\"") && hint.contains("--delimiter ';'"), "{hint}");
        assert!(delimiter_hint(b"number\tmessage", b',').unwrap().contains("--delimiter 'tab'"));
        assert_eq!(delimiter_hint(b"number", b','), None);
        assert_eq!(delimiter_hint(b"number;message", b';'), None);
    }

    #[test]
    fn encodings() {
        assert_eq!("Windows-1252".parse(), Ok(Encoding::Windows1252));
        assert_eq!("utf-8".parse(), Ok(Encoding::Utf8));
        assert!("latin9".parse::<Encoding>().is_err());
        assert_eq!(not_utf8(b"plain"), None);
        // A UTF-8 character cut at the end of the sample is still UTF-8.
        assert_eq!(not_utf8(&"blå".as_bytes()[..3]), None);
        assert_eq!(not_utf8(b"Hei P\xe5l"), Some(NotUtf8::LooksLikeWindows1252));
        assert_eq!(not_utf8(b"\xff\xfe\x00"), Some(NotUtf8::Other));
    }

    #[test]
    fn windows_1252_is_read_as_utf8_across_chunk_ends() {
        let mut text = Vec::new();
        for i in 0..40_000 {
            text.extend_from_slice(format!("{i};Bl\u{e5}b\u{e6}r \u{80} \u{0}\n").as_bytes());
        }
        // The bytes as Windows-1252 holds them: each char above is one byte's value.
        let raw: Vec<u8> = String::from_utf8(text)
            .unwrap()
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect();
        // A reader that returns a few bytes at a time.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(7).min(self.0.len() - self.1);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let mut out = String::new();
        Decoded::new(Trickle(raw, 0), encoding_rs::WINDOWS_1252).read_to_string(&mut out).unwrap();
        assert_eq!(out.lines().count(), 40_000);
        assert_eq!(out.lines().nth(39_999), Some("39999;Blåbær € \u{0}"));
    }

    #[test]
    fn recomma_rewrites_separators_and_quotes_commas() {
        let input = "from;to;text;received_at\n+4791234567;2401;\"Stopp; takk\";x\nA;B;a,b;\n";
        let mut out = String::new();
        recomma(std::io::Cursor::new(input.as_bytes().to_vec()), b';')
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "from,to,text,received_at\n+4791234567,2401,Stopp; takk,x\nA,B,\"a,b\",\n");
    }

    #[test]
    fn scientific_notation() {
        for yes in ["4.79123E+10", "4,79123E+10", "4E10", "+4.7e+10", "47912345678E0"] {
            assert!(is_scientific(yes.as_bytes()), "{yes}");
        }
        for no in ["4791234567", "+47 912 34 567", "E10", "4.7E", "4.7E+", "4..7E1", "x4E1", ""] {
            assert!(!is_scientific(no.as_bytes()), "{no}");
        }
        assert!(explain_scientific(3).starts_with("3 INVALID_NUMBER"));
    }
}
