//! Turning bytes into lines, with errors that name the file and line: UTF-8 checked, a BOM
//! dropped, CRLF accepted, empty files refused.

use std::io::BufRead;
use std::ops::ControlFlow;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Checks UTF-8 (naming the first bad line), drops a UTF-8 BOM, refuses an empty file.
pub fn decode(file: &str, mut bytes: Vec<u8>) -> Result<String> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    check_start(file, &bytes, false)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..good].iter().filter(|&&b| b == b'\n').count() + 1;
        if e.utf8_error().error_len().is_none() {
            return cut_short(file, line);
        }
        invalid_utf8(file, line, e.as_bytes(), 0)
    })?;
    if let Some(at) = text.find('\0') {
        return Err(nul_bytes(file, text[..at].matches('\n').count() + 1, text.as_bytes(), 0));
    }
    if text.trim().is_empty() {
        return Err(empty(file));
    }
    Ok(text)
}

/// The first bytes of every gzip stream.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// A file named `.gz` whose first bytes (`start`, any number of them) are not gzip's is an
/// error saying to rename it.
pub fn check_gzip(file: &str, start: &[u8]) -> Result<()> {
    let start = &start[..start.len().min(GZIP_MAGIC.len())];
    if start.is_empty() || GZIP_MAGIC.starts_with(start) {
        return Ok(());
    }
    Err(Error::input(
        file,
        1,
        "its name ends in .gz, but it is not gzip-compressed",
        "rename it without .gz (or compress it: gzip FILE)",
    ))
}

/// A gzip file whose name does not end in `.gz` (only that name says to decompress).
fn gzip_unnamed(file: &str) -> Error {
    Error::input(file, 1, "gzip-compressed, but its name does not end in .gz", "rename it to end in .gz (or gunzip it)")
}

/// UTF-8 up to a character the file's end cuts in two.
fn cut_short(file: &str, line: usize) -> Error {
    Error::input(
        file,
        line,
        "the file ends in the middle of a UTF-8 character (cut short while copying or downloading?)",
        "copy or download it again (what comes before is valid UTF-8: do not convert it)",
    )
}

/// Bytes that are not UTF-8; `bytes`: the file from its start, or the line (`offset` bytes
/// into the file).
fn invalid_utf8(file: &str, line: usize, bytes: &[u8], offset: usize) -> Error {
    let (what, from) = match likely_encoding(bytes, offset) {
        Some(from) => (format!("invalid UTF-8 (it looks like {from})"), from),
        None => ("invalid UTF-8".to_string(), "CP932"),
    };
    Error::input(file, line, what, convert(from))
}

/// What a file's first bytes (`start`, after a UTF-8 BOM) say it is not, before any line is
/// read: gzip under a name without `.gz` (`gz`: it was gunzipped already), or no text at all
/// ([`binary_kind`]; a PDF's first line is ASCII).
fn check_start(file: &str, start: &[u8], gz: bool) -> Result<()> {
    if !gz && start.starts_with(GZIP_MAGIC) {
        return Err(gzip_unnamed(file));
    }
    match binary_kind(start) {
        Some((what, fix)) => Err(Error::input(file, 1, format!("not a text file: {what}"), fix)),
        None => Ok(()),
    }
}

/// What a file that is not text is, from its first bytes (the formats a dataset's files are
/// mistaken for most: archives, compressed files, arrays, documents), and what to do.
fn binary_kind(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    const KINDS: [(&[u8], &str, &str); 8] = [
        (
            b"PK\x03\x04",
            "a zip archive (or an .xlsx/.docx, which are zip too)",
            "unzip it and give the files inside (export a spreadsheet as TSV)",
        ),
        (b"\x93NUMPY", "a NumPy .npy array", "give vectors as a model: --model emb:QUERIES.npy,DOCS.npy"),
        (b"\xFD7zXZ\x00", "xz-compressed", "decompress it first (xz -d FILE); only gzip (.gz) is read as it is"),
        (b"BZh", "bzip2-compressed", "decompress it first (bunzip2 FILE); only gzip (.gz) is read as it is"),
        (
            b"\x28\xB5\x2F\xFD",
            "zstd-compressed",
            "decompress it first (zstd -d FILE); only gzip (.gz) is read as it is",
        ),
        (b"7z\xBC\xAF\x27\x1C", "a 7z archive", "extract it and give the files inside"),
        (b"%PDF", "a PDF document", "give the text as JSON lines or TSV (see README, 'Input formats')"),
        (b"\x89PNG", "a PNG image", "give the text as JSON lines or TSV (see README, 'Input formats')"),
    ];
    KINDS.iter().find(|(magic, _, _)| bytes.starts_with(magic)).map(|&(_, what, fix)| (what, fix))
}

/// NUL bytes in valid UTF-8: UTF-16 saved without a byte-order mark.
fn nul_bytes(file: &str, line: usize, bytes: &[u8], offset: usize) -> Error {
    let from = likely_encoding(bytes, offset).unwrap_or("UTF-16LE");
    Error::input(file, line, format!("NUL bytes in the text (it looks like {from})"), convert(from))
}

fn convert(from: &str) -> String {
    let note =
        if from == "CP932" { " (CP932 is Windows' Shift_JIS; else the file's own: EUC-JP, CP1252…)" } else { "" };
    format!("save the file as UTF-8, e.g. `iconv -f {from} -t UTF-8 FILE > FILE.utf8`{note}")
}

/// The encoding `bytes` (not UTF-8, or UTF-8 with NULs; `offset` bytes into the file) most
/// likely are in, where the bytes say it: UTF-16 (a byte-order mark at the file's start, or
/// NULs: ASCII in UTF-16 is every other byte 0 — LE puts it at odd offsets), or EUC-JP (every
/// non-ASCII byte in a valid EUC-JP pair, which Shift_JIS's hiragana, katakana and most kanji
/// are not: their first bytes are 0x81–0x9F).
fn likely_encoding(bytes: &[u8], offset: usize) -> Option<&'static str> {
    if offset == 0 && (bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF])) {
        return Some("UTF-16");
    }
    let sample = &bytes[..bytes.len().min(4096)];
    if let Some(at) = sample.iter().position(|&b| b == 0) {
        return Some(if (offset + at) % 2 == 1 { "UTF-16LE" } else { "UTF-16BE" });
    }
    let (mut i, mut pairs) = (0, 0);
    while i < sample.len() {
        let (b, next) = (sample[i], |k: usize| sample.get(i + k).copied());
        let ok = |k, range: std::ops::RangeInclusive<u8>| next(k).is_none_or(|c| range.contains(&c));
        i += match b {
            0..=0x7F => 1,
            0x8E if ok(1, 0xA1..=0xDF) => 2,
            0x8F if ok(1, 0xA1..=0xFE) && ok(2, 0xA1..=0xFE) => 3,
            0xA1..=0xFE if ok(1, 0xA1..=0xFE) => 2,
            _ => return None,
        };
        pairs += usize::from(b > 0x7F);
    }
    (pairs > 0).then_some("EUC-JP")
}

fn empty(file: &str) -> Error {
    Error::input(file, 0, "the file is empty", "check that the right file was given")
}

/// A gzip stream of `file` that stopped decompressing inside line `line` (1-based).
pub fn gzip_error(file: &str, line: usize, e: &std::io::Error) -> Error {
    let fix = if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "the file ends early (cut short while copying or downloading?): copy or download it again"
    } else {
        "decompress it or re-create it with gzip"
    };
    Error::input(file, line, format!("not a valid gzip file: {e}"), fix)
}

/// [`decode`] and [`lines`] a line at a time: hands each non-blank line and its 1-based number
/// to `f` as it is read, so a file is never in memory whole. The same errors: invalid UTF-8
/// names its line, a file without a non-blank line is empty. `gz`: `r` is a gzip stream (its
/// read errors say so). `f` returning [`ControlFlow::Break`] stops the reading there (what
/// follows is neither read nor checked).
pub fn each_line(
    file: &str,
    mut r: impl BufRead,
    gz: bool,
    mut f: impl FnMut(usize, &str) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let mut buf = Vec::new();
    let (mut n, mut any) = (0, false);
    // Bytes of the file before this line.
    let mut offset = 0;
    loop {
        offset += buf.len();
        buf.clear();
        let got = r.read_until(b'\n', &mut buf).map_err(|e| {
            if gz {
                gzip_error(file, n + 1, &e)
            } else {
                Error::input(file, n + 1, format!("cannot read: {e}"), "check the file and its permissions")
            }
        })?;
        if got == 0 {
            break;
        }
        n += 1;
        let mut bytes = &buf[..];
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if n == 1 {
            check_start(file, bytes, gz)?;
        }
        // A UTF-8 BOM: the file's, or one beginning a later line (files joined with `cat`).
        bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
        let line = std::str::from_utf8(bytes).map_err(|e| match e.error_len() {
            // The last line, without its newline, stopping inside a character.
            None if !buf.ends_with(b"\n") => cut_short(file, n),
            _ => invalid_utf8(file, n, &buf, offset),
        })?;
        if line.contains('\0') {
            return Err(nul_bytes(file, n, &buf, offset));
        }
        if !line.trim().is_empty() {
            any = true;
            if f(n, line)?.is_break() {
                break;
            }
        }
    }
    if !any {
        return Err(empty(file));
    }
    Ok(())
}

/// `s` as Python's `str.strip()` leaves it (what BEIR, MTEB and sentence-transformers apply to
/// `title + " " + text`): Unicode whitespace, and the separators U+001C..U+001F, which Python
/// counts as whitespace and Rust's `trim` does not.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Non-blank lines with their 1-based numbers, `\r` stripped.
pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// serde's complaint without its " at line L column C" (serde counts lines of the string it
/// was given, not of the file), prefixed by the column in characters (serde counts bytes: a
/// Japanese character is 3 of them).
fn json_what(e: &serde_json::Error, s: &str) -> String {
    let msg = e.to_string();
    let msg = msg.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&msg);
    let kind = if e.is_syntax() || e.is_eof() { "malformed JSON" } else { "unexpected JSON content" };
    format!("{kind} (column {}): {msg}", char_column(s, e.line(), e.column()))
}

/// Byte column `col` (1-based) of 1-based line `line` of `s`, in characters.
fn char_column(s: &str, line: usize, col: usize) -> usize {
    let l = s.split('\n').nth(line.saturating_sub(1)).unwrap_or("");
    let mut end = col.min(l.len());
    while !l.is_char_boundary(end) {
        end += 1;
    }
    l[..end].chars().count()
}

/// Parses one JSONL line into `T`, the error naming file, line and serde's complaint.
pub fn json_line<T: DeserializeOwned>(file: &str, line: usize, s: &str, expect: &str) -> Result<T> {
    let fix = || format!("each line must be one JSON object like {expect}");
    // serde would fill a struct's fields from an array by position: `["d9", "Cats", "..."]`
    // read as a document without a word.
    if s.trim_start().starts_with('[') {
        return Err(Error::input(
            file,
            line,
            "unexpected JSON content (column 1): an array, not an object",
            format!("{} (a JSON array of objects: `jq -c '.[]' FILE > FILE.jsonl`)", fix()),
        ));
    }
    serde_json::from_str(s).map_err(|e| {
        // `{` alone, or an object left open at the line's end: one JSON document spread over
        // lines (pretty-printed), not JSON lines.
        if e.is_eof() && s.trim_start().starts_with('{') {
            let what =
                format!("{}; the object goes on past the line: pretty-printed JSON, not JSON lines", json_what(&e, s));
            return Error::input(file, line, what, format!("{} (`jq -c . FILE > FILE.jsonl` writes them so)", fix()));
        }
        // Characters that break JSON lines and are hard to see.
        // serde stops at most a pair's length past the lone half (its column counts bytes).
        let at_escape = |start: usize| start < e.column() && e.column() <= start + 14;
        let lone = lone_surrogate(s).filter(|&(start, _)| e.classify() == serde_json::error::Category::Syntax && at_escape(start));
        let hint = if let Some((_, escape)) = lone {
            return Error::input(
                file,
                line,
                format!(
                    "{}: `{escape}` is half of a UTF-16 surrogate pair (an emoji or another character past \
                     U+FFFF cut in two), no character on its own",
                    json_what(&e, s)
                ),
                "write the whole pair (`\\ud83d\\ude00`) or the character itself; Python's json reads a lone half, \
                 but no tokenizer can encode it",
            );
        } else if s.trim_start_matches(|c: char| c.is_ascii_whitespace()).starts_with('\u{feff}') {
            "; the line begins with a byte-order mark (U+FEFF): a file saved with two, or joined with its BOM"
        } else if s.contains('\r') {
            "; the line holds carriage returns: old Mac line ends (CR)? `tr '\\r' '\\n' < FILE > FILE.txt` makes them lines"
        } else {
            ""
        };
        Error::input(file, line, format!("{}{hint}", json_what(&e, s)), fix())
    })
}

/// The first `\uD800`–`\uDFFF` escape in `s` that is not part of a high-low pair (an escaped
/// backslash, `\\`, begins none): its byte offset and text.
fn lone_surrogate(s: &str) -> Option<(usize, &str)> {
    let b = s.as_bytes();
    let unit = |i: usize| {
        s.get(i + 2..i + 6).filter(|_| b.get(i + 1) == Some(&b'u')).and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit(i) {
            Some(0xD800..=0xDBFF)
                if b.get(i + 6) == Some(&b'\\') && unit(i + 6).is_some_and(|u| (0xDC00..=0xDFFF).contains(&u)) =>
            {
                i += 12
            }
            Some(0xD800..=0xDFFF) => return s.get(i..i + 6).map(|e| (i, e)),
            _ => i += 2,
        }
    }
    None
}

/// Parses a whole JSON file into `T`; serde's line number becomes the error's line.
pub fn json_file<T: DeserializeOwned>(file: &str, s: &str, expect: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        Error::input(file, e.line(), json_what(&e, s), format!("the file must be one JSON object like {expect}"))
    })
}

/// Ids may be written as JSON strings or integers; anything else is an error.
pub mod id {
    use serde::{de, Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Id {
            S(String),
            I(i64),
            U(u64),
            F(f64),
        }
        match Id::deserialize(d) {
            Ok(Id::S(s)) => Ok(s),
            Ok(Id::I(i)) => Ok(i.to_string()),
            Ok(Id::U(u)) => Ok(u.to_string()),
            // An integer past 64 bits reaches here as a float, its digits already rounded away
            // (Python's json keeps them; ids cannot be read exactly from it).
            Ok(Id::F(f)) if f.fract() == 0.0 && f.abs() >= 9.2e18 => Err(de::Error::custom(format!(
                "an id must be a string or an integer of at most 64 bits, not a number as large as {f:.2e}: write it as a JSON string (\"_id\": \"...\")"
            ))),
            Ok(Id::F(f)) => Err(de::Error::custom(format!(
                "an id must be a string or an integer, not {f:?}: write it as a JSON string (\"_id\": \"{f:?}\") or \
                 an integer"
            ))),
            Err(_) => Err(de::Error::custom("an id must be a string or an integer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{json_line, likely_encoding};

    /// A lone surrogate escape is named as such; a pair is read.
    #[test]
    fn lone_surrogates_are_named() {
        #[derive(serde::Deserialize, Debug)]
        struct Q {
            #[allow(dead_code)]
            text: String,
        }
        for (line, escape) in [
            (r#"{"text": "a \ud800 b"}"#, r"\ud800"),
            (r#"{"text": "\ude00"}"#, r"\ude00"),
            (r#"{"text": "\ud83d\ude00\ud83d"}"#, r"\ud83d"),
        ] {
            let e = json_line::<Q>("q.jsonl", 1, line, "{}").unwrap_err().to_string();
            assert!(e.contains(&format!("`{escape}` is half of a UTF-16 surrogate pair")), "{e}");
        }
        assert!(json_line::<Q>("q.jsonl", 1, r#"{"text": "\ud83d\ude00 \u3042"}"#, "{}").is_ok());
        assert_eq!(super::lone_surrogate(r"\\ud800 \ud800"), Some((8, r"\ud800")));
        assert_eq!(super::lone_surrogate(r"\\ud800"), None, "an escaped backslash, then text");
        // Another error earlier on the line is that error.
        let e = json_line::<Q>("q.jsonl", 1, r#"{"text": "a" "b": "\ud800"}"#, "{}").unwrap_err().to_string();
        assert!(!e.contains("surrogate"), "{e}");
    }

    /// An archive, an array or another compressed format given as a text file is named as what it
    /// is, not as text in some encoding.
    #[test]
    fn binary_files_are_named() {
        let zip = b"PK\x03\x04\x14\x00\x08\x00\x08\x00\xa3\x9e\xff\x00corpus.jsonl";
        let e = super::decode("corpus.jsonl", zip.to_vec()).unwrap_err().to_string();
        assert!(e.contains("not a text file: a zip archive") && e.contains("unzip it"), "{e}");
        let npy = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'";
        let e = super::decode("queries.jsonl", npy.to_vec()).unwrap_err().to_string();
        assert!(e.contains("NumPy") && e.contains("emb:"), "{e}");
        let e = super::decode("qrels/test.tsv", b"BZh91AY&SY\x00\x00".to_vec()).unwrap_err().to_string();
        assert!(e.contains("bzip2"), "{e}");
        // Read line by line, a PDF (whose first line is ASCII) is named before any line is parsed.
        let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";
        let e = super::each_line("corpus.jsonl", &pdf[..], false, |_, _| Ok(std::ops::ControlFlow::Continue(())))
            .unwrap_err();
        assert!(e.to_string().contains("not a text file: a PDF document"), "{e}");
        // Later in a file, the bytes are a line's, not the file's start: the encoding guess stays.
        let e = super::invalid_utf8("corpus.jsonl", 3, b"PK\x03\x04\xff", 120).to_string();
        assert!(!e.contains("zip"), "{e}");
    }

    /// A Japanese line in each encoding Python's codecs write it in, as an error names it.
    #[test]
    fn a_files_encoding_is_guessed_from_its_bytes() {
        // "日本語のテキスト、カタカナ" in Python's `encode("cp932")` and `encode("euc_jp")`.
        let cp932 = b"{\"text\": \"\x93\xfa\x96{\x8c\xea\x82\xcc\x83e\x83L\x83X\x83g\x81A\x83J\x83^\x83J\x83i\"}";
        let euc = b"{\"text\": \"\xc6\xfc\xcb\xdc\xb8\xec\xa4\xce\xa5\xc6\xa5\xad\xa5\xb9\xa5\xc8\xa1\xa2\xa5\xab\xa5\xbf\xa5\xab\xa5\xca\"}";
        assert_eq!(likely_encoding(cp932, 0), None, "Shift_JIS is the default guess, not named");
        assert_eq!(likely_encoding(euc, 0), Some("EUC-JP"));
        // EUC-JP cut inside a character, as a line or a 4096-byte sample may end.
        assert_eq!(likely_encoding(&euc[..euc.len() - 3], 0), Some("EUC-JP"));
        let utf16 = |be: bool, bom: bool| {
            let mut out: Vec<u8> = if bom { vec![0xFF, 0xFE] } else { vec![] };
            for u in "{\"text\": \"日本\"}".encode_utf16() {
                out.extend(if be { u.to_be_bytes() } else { u.to_le_bytes() });
            }
            out
        };
        assert_eq!(likely_encoding(&utf16(false, true), 0), Some("UTF-16"));
        assert_eq!(likely_encoding(&utf16(false, false), 0), Some("UTF-16LE"));
        // A later line of UTF-16LE begins with the 0 of the newline before it.
        assert_eq!(likely_encoding(&utf16(false, false)[1..], 7), Some("UTF-16LE"));
        assert_eq!(likely_encoding(&utf16(false, true), 8), Some("UTF-16LE"), "a BOM only begins a file");
        assert_eq!(likely_encoding(&utf16(true, false), 0), Some("UTF-16BE"));
        assert_eq!(likely_encoding(b"caf\xe9 au lait", 0), None, "Latin-1: not EUC-JP pairs");
    }

    /// UTF-8 whose last character the file's end cuts is named as cut short (not as another
    /// encoding to convert from, which would garble it), whole-file and line by line; a cut
    /// inside the file is still invalid UTF-8.
    #[test]
    fn utf8_cut_at_the_end_is_cut_short() {
        let text = "q1 Q0 文書1 1 0.9 r\nq1 Q0 文書2 2 0.8 r\nq1 Q0 文書".as_bytes();
        let cut = &text[..text.len() - 1];
        let whole = super::decode("f", cut.to_vec()).unwrap_err().to_string();
        let mut seen = 0;
        let by_line = super::each_line("f", cut, false, |_, _| {
            seen += 1;
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .unwrap_err()
        .to_string();
        assert_eq!(seen, 2);
        for e in [whole, by_line] {
            assert!(e.starts_with("f:3: the file ends in the middle of a UTF-8 character"), "{e}");
        }
        let inside = [&text[..8], &text[9..]].concat();
        let e = super::decode("f", inside).unwrap_err().to_string();
        assert!(e.starts_with("f:1: invalid UTF-8"), "{e}");
    }

    /// Python's `str.strip()`: every character Python 3.11 calls whitespace (`isspace()`, all
    /// 29 of them) is stripped at both ends, and nothing else; Rust's `trim` keeps U+001C..U+001F.
    #[test]
    fn py_strip_strips_what_python_strips() {
        // [hex(ord(c)) for c in map(chr, range(0x110000)) if c.isspace()], Python 3.11.7.
        let python: Vec<u32> = vec![
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
            0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
        ];
        for c in (0..0x11_0000u32).filter_map(char::from_u32) {
            let s = format!("{c}x{c}");
            let want = if python.contains(&(c as u32)) { "x" } else { s.as_str() };
            assert_eq!(super::py_strip(&s), want, "U+{:04X}", c as u32);
        }
        assert_eq!(super::py_strip("\x1f\x1e本文\x1c\x1d"), "本文");
    }

    /// Invisible causes of a JSON error are named: a second byte-order mark, CR-only line ends.
    #[test]
    fn invisible_characters_are_named() {
        let what = |s: &str| json_line::<serde_json::Value>("f", 1, s, "{}").unwrap_err().to_string();
        assert!(what("\u{feff}{\"_id\": \"d1\"}").contains("begins with a byte-order mark"));
        let cr = what("{\"_id\": \"d1\"}\r{\"_id\": \"d2\"}");
        assert!(cr.contains("carriage returns") && cr.contains("tr '\\r' '\\n'"), "{cr}");
        assert!(!what("{\"_id\": }").contains("carriage"));
    }

    /// A JSON error's column counts characters: Japanese text before it (3 bytes a character in
    /// UTF-8) puts it where the same number of ASCII characters would.
    #[test]
    fn json_columns_count_characters() {
        let what = |s: &str| json_line::<serde_json::Value>("f", 1, s, "{}").unwrap_err().to_string();
        let (ja, ascii) = (what(r#"{"title": "猫が座った", "text": 5,}"#), what(r#"{"title": "abcde", "text": 5,}"#));
        assert!(ascii.contains("(column 30)"), "{ascii}");
        assert_eq!(ja, ascii);
    }

    /// An array line is not read as an object by position.
    #[test]
    fn an_array_is_not_an_object() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            _id: String,
            text: String,
        }
        let e = json_line::<Doc>("corpus.jsonl", 3, r#"  ["d9", "cats"]"#, "{}").unwrap_err().to_string();
        assert!(e.contains("corpus.jsonl:3") && e.contains("an array, not an object"), "{e}");
        assert!(json_line::<Doc>("c", 1, r#"{"_id": "d9", "text": "cats"}"#, "{}").is_ok());
    }
}
