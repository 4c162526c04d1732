//! One error type for the library. Every message names what to fix: the file and line for bad
//! input, the flag for a bad option. `anyhow` lives only in `main.rs`.

use std::fmt;

/// Where in the user's input something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based line number; 0 when the problem concerns the whole file.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or inconsistent input data. Exit code 2.
    #[error("{at}: {what}\n  fix: {fix}")]
    Input { at: Location, what: String, fix: String },
    /// A file that should exist does not, or cannot be read. Exit code 2.
    #[error("{file}: {what}\n  fix: {fix}")]
    Missing { file: String, what: String, fix: String },
    /// A bad option or flag value. Exit code 2.
    #[error("{flag}: {what}")]
    Usage { flag: String, what: String },
    /// A model failed while running (not a problem with its files).
    #[error("model: {what}")]
    Model { what: String },
    /// A remote embedding API refused a request or kept failing. Exit code 1.
    #[error("{url}: {what}\n  fix: {fix}")]
    Api { url: String, what: String, fix: String },
    /// Writing results failed.
    #[error("{file}: cannot write: {source}\n  fix: {}", write_fix(source))]
    Write { file: String, source: std::io::Error },
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Gpu(#[from] crate::search::gpu::GpuError),
}

/// What to do about a failed write, by its cause.
fn write_fix(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            "free some space there, or write elsewhere (--out; the embedding cache: --cache DIR or --no-cache); \
             files written before are kept"
        }
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            "give a folder you can write to (--out; the embedding cache: --cache DIR or --no-cache)"
        }
        _ => "check the folder, or write elsewhere (--out; the embedding cache: --cache DIR or --no-cache)",
    }
}

/// Characters of a message kept: ids and lines quoted from the user's files can be megabytes.
pub const MESSAGE_CHARS: usize = 2000;

/// `s` cut to about `max` characters: its start and end kept, the middle said to be cut.
pub fn clip(s: String, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s;
    }
    let (head, tail) = (max * 3 / 4, max / 4);
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…[{} characters cut]…{end}", n - head - tail)
}

impl Error {
    pub fn input(file: impl Into<String>, line: usize, what: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Input {
            at: Location { file: file.into(), line },
            what: clip(what.into(), MESSAGE_CHARS),
            fix: fix.into(),
        }
    }
    pub fn missing(file: impl Into<String>, what: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Missing { file: file.into(), what: clip(what.into(), MESSAGE_CHARS), fix: fix.into() }
    }
    pub fn usage(flag: impl Into<String>, what: impl Into<String>) -> Self {
        Error::Usage { flag: flag.into(), what: clip(what.into(), MESSAGE_CHARS) }
    }
    /// The process exit code the CLI uses: 2 for anything the user can fix in their input.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Missing { .. } | Error::Usage { .. } => 2,
            _ => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #[test]
    fn long_messages_keep_their_ends() {
        assert_eq!(super::clip("短い".into(), 10), "短い");
        let id = "文".repeat(1_000_000);
        let e = super::Error::input("run.trec", 3, format!("doc '{id}' is listed twice"), "keep one");
        let text = e.to_string();
        assert!(text.len() < 3 * super::MESSAGE_CHARS + 200, "{}", text.len());
        assert!(text.starts_with("run.trec:3: doc '文文"), "{}", &text[..40]);
        assert!(text.contains("…[998022 characters cut]…"));
        assert!(text.contains("文' is listed twice\n  fix: keep one"));
    }
}
