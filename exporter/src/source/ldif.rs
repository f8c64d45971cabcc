//! LDIF source: reads an RFC 2849 dump as written by `ldifde -f` or
//! `ldapsearch [-LLL]`, one record at a time.
//!
//! The reader keeps one record in memory (plus the reader's buffer), so a
//! multi-gigabyte dump streams. What it accepts:
//!
//! - an optional `version: 1` line at the start of the file;
//! - UTF-8 with or without its byte order mark, and UTF-16LE or UTF-16BE
//!   with a byte order mark (`ldifde -u` writes UTF-16LE): [`LdifSource::open`]
//!   decodes UTF-16 on the fly ([`super::transcode`]), so memory stays flat;
//! - `#` comment lines anywhere, including folded comments and the
//!   `# refldap://…` search references `ldapsearch -LLL` prints;
//! - folded lines: a line starting with one space continues the previous line,
//!   and exactly that one space is removed;
//! - `attr: value` (all spaces after the colon are separator, RFC 2849 `FILL`),
//!   `attr:: base64` (strict RFC 4648 base64 with padding), attribute names in
//!   any case and with options (stored through [`RawEntry::push`]);
//! - `dn:` and `dn::` (base64, for non-ASCII DNs);
//! - `changetype: add` records, read as content;
//! - blank-line record separators (any number), LF or CRLF line endings;
//! - the `search:`/`result:` trailer and `ref:` search-reference records that
//!   `ldapsearch` without `-LLL` prints (also after every page with
//!   `-E pr=N/noprompt`, with its `control:` and `pagedresults:` lines):
//!   skipped, but a `result:` other than `0` is an error, because the dump is
//!   then incomplete (for example `result: 4 Size limit exceeded`).
//!
//! What it refuses, with an error naming the file and line: a record that does
//! not start with `dn:`, a line without a colon, a continuation line with no
//! line to continue, invalid base64, `attr:< URL` values, other changetypes,
//! a second `dn:` in one record, a `version:` other than 1, invalid UTF-16,
//! a last line without its line break (a truncated file), a record that ends
//! with its `dn:` line at the end of the file, and records larger than
//! [`MAX_RECORD_BYTES`] (by default).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use base64::Engine as _;

use super::transcode::{Encoding, Utf16ToUtf8};
use super::{DirectorySource, RawEntry, SourceError};

/// The reader [`LdifSource::open`] uses.
pub type LdifFile = BufReader<FileText>;

/// A file's bytes as UTF-8: straight from the file, or UTF-16 decoded on the way.
#[derive(Debug)]
pub enum FileText {
    /// UTF-8 (a BOM, if any, is removed by the LDIF reader).
    Utf8(BufReader<File>),
    /// UTF-16 after its BOM, decoded to UTF-8.
    Utf16(Utf16ToUtf8<BufReader<File>>),
}

impl Read for FileText {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Utf8(r) => r.read(buf),
            Self::Utf16(r) => r.read(buf),
        }
    }
}

/// The default largest record (LDIF text, folding included) the reader
/// accepts. It bounds memory on a corrupt file (for example one without line
/// breaks); see [`LdifSource::with_max_record_bytes`].
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

/// Buffer size used by [`LdifSource::open`].
const READ_BUFFER: usize = 256 * 1024;

/// An LDIF dump read as a stream of [`RawEntry`] values.
///
/// After an error the source is finished: further calls to
/// [`DirectorySource::next_entry`] return `Ok(None)`.
#[derive(Debug)]
pub struct LdifSource<R = BufReader<File>> {
    reader: R,
    /// The file name used in messages and in [`DirectorySource::description`].
    name: String,
    /// Physical lines consumed so far (the number of the last line read).
    line: u64,
    /// Bytes of LDIF text read for the current record.
    record_bytes: usize,
    /// The record size limit.
    max_record_bytes: usize,
    /// The current logical (unfolded) line; reused between lines.
    logical: Vec<u8>,
    /// No record, version line or other content line has been seen yet.
    at_start: bool,
    /// The end of the input, or an error, has been reached.
    finished: bool,
    /// The encoding the file was read in (for messages).
    encoding: Encoding,
}

impl LdifSource<LdifFile> {
    /// Opens an LDIF file in UTF-8 (with or without BOM) or UTF-16 (with BOM).
    /// Messages name the file by its file name only.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SourceError> {
        let path = path.as_ref();
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let file = File::open(path).map_err(|e| {
            SourceError::Io(format!("cannot open LDIF file {}: {e}", path.display()))
        })?;
        let mut raw = BufReader::with_capacity(READ_BUFFER, file);
        let head = raw.fill_buf().map_err(|e| {
            SourceError::Io(format!("cannot read LDIF file {}: {e}", path.display()))
        })?;
        let encoding = Encoding::sniff(head);
        let reader = match encoding {
            Encoding::Utf8 => FileText::Utf8(raw),
            Encoding::Utf16Le | Encoding::Utf16Be => {
                raw.consume(2);
                FileText::Utf16(Utf16ToUtf8::new(raw, encoding == Encoding::Utf16Be))
            }
        };
        let mut source = Self::new(BufReader::with_capacity(READ_BUFFER, reader), name);
        source.encoding = encoding;
        Ok(source)
    }
}

impl<R: BufRead> LdifSource<R> {
    /// Reads LDIF from `reader`; `name` (a file name) is used in messages and
    /// in the description.
    pub fn new(reader: R, name: String) -> Self {
        Self {
            reader,
            name,
            line: 0,
            record_bytes: 0,
            max_record_bytes: MAX_RECORD_BYTES,
            logical: Vec::new(),
            at_start: true,
            finished: false,
            encoding: Encoding::Utf8,
        }
    }

    /// Sets the largest record accepted, in bytes of LDIF text (default
    /// [`MAX_RECORD_BYTES`]).
    #[must_use]
    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    /// The name given to [`LdifSource::new`] (or the file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of physical lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    fn error(&self, line: u64, message: impl std::fmt::Display) -> SourceError {
        SourceError::Ldif(format!("{} line {line}: {message}", self.name))
    }

    fn io_error(&self, e: &io::Error) -> SourceError {
        let encoding = match self.encoding {
            Encoding::Utf8 => String::new(),
            other => format!(" (read as {})", other.name()),
        };
        SourceError::Io(format!(
            "{} line {}: read error{encoding}: {e}",
            self.name,
            self.line + 1
        ))
    }

    /// Appends one physical line to `buf`, without its line ending (LF or
    /// CRLF). Returns `false` at the end of input; a last line without its
    /// line break is an error (the file was cut).
    fn read_physical(&mut self, buf: &mut Vec<u8>) -> Result<bool, SourceError> {
        let start = buf.len();
        // One byte over the budget so that "too large" is detectable.
        let budget = self.max_record_bytes.saturating_sub(self.record_bytes) as u64 + 1;
        let n = loop {
            match (&mut self.reader).take(budget).read_until(b'\n', buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(&e)),
            }
        };
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        self.record_bytes += n;
        if self.record_bytes > self.max_record_bytes {
            return Err(self.error(
                self.line,
                format!(
                    "record larger than {} bytes (is this an LDIF file?)",
                    self.max_record_bytes
                ),
            ));
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else {
            // Below the budget, read_until stops without LF only at the end.
            return Err(self.error(
                self.line,
                "the file ends in the middle of a line (no line break after the last line): \
                 it looks truncated; export the directory again",
            ));
        }
        if buf.len() > start && buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(true)
    }

    /// Whether the next physical line starts with a space (a continuation).
    fn next_is_continuation(&mut self) -> Result<bool, SourceError> {
        loop {
            match self.reader.fill_buf() {
                Ok(b) => return Ok(b.first() == Some(&b' ')),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(&e)),
            }
        }
    }

    /// Reads the next logical (unfolded) line into `self.logical` and returns
    /// the number of its first physical line, or `None` at the end of input.
    fn next_logical(&mut self) -> Result<Option<u64>, SourceError> {
        let mut buf = std::mem::take(&mut self.logical);
        buf.clear();
        let result = self.fill_logical(&mut buf);
        self.logical = buf;
        result
    }

    fn fill_logical(&mut self, buf: &mut Vec<u8>) -> Result<Option<u64>, SourceError> {
        if !self.read_physical(buf)? {
            return Ok(None);
        }
        let first = self.line;
        if first == 1 {
            if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                buf.drain(..3);
            } else if buf.starts_with(&[0xFF, 0xFE]) || buf.starts_with(&[0xFE, 0xFF]) {
                // Only a reader given raw bytes gets here: `open` decodes UTF-16.
                return Err(self.error(
                    first,
                    "a UTF-16 byte order mark in a stream read as UTF-8 \
                     (open the file with LdifSource::open, which decodes UTF-16)",
                ));
            }
        }
        if buf.is_empty() {
            // A blank line ends a record; a following space-led line is not
            // its continuation.
            return Ok(Some(first));
        }
        if buf.first() == Some(&b' ') {
            return Err(self.error(
                first,
                "continuation line (starting with a space) with no line to continue",
            ));
        }
        while self.next_is_continuation()? {
            self.reader.consume(1);
            self.record_bytes += 1;
            self.read_physical(buf)?;
        }
        Ok(Some(first))
    }

    /// Reads the next record, skipping ldapsearch trailers and references.
    fn read_record(&mut self) -> Result<Option<RawEntry>, SourceError> {
        let mut entry: Option<RawEntry> = None;
        // Inside an ldapsearch `search:`/`result:`/`ref:` record.
        let mut trailer = false;
        self.record_bytes = 0;
        // The line of the current record's `dn:`.
        let mut dn_line = 0;
        loop {
            let Some(line_no) = self.next_logical()? else {
                if entry.as_ref().is_some_and(|e| e.attributes.is_empty()) {
                    return Err(self.error(
                        dn_line,
                        "the file ends right after this dn: line, with no attribute and no \
                         blank line: it looks truncated; export the directory again",
                    ));
                }
                return Ok(entry);
            };
            if entry.is_none() {
                dn_line = line_no;
            }
            if self.logical.is_empty() {
                if entry.is_some() {
                    return Ok(entry);
                }
                trailer = false;
                self.record_bytes = 0;
                continue;
            }
            if self.logical.first() == Some(&b'#') {
                continue;
            }
            let line = std::mem::take(&mut self.logical);
            let outcome = self.content_line(line_no, &line, &mut entry, &mut trailer);
            self.logical = line;
            outcome?;
        }
    }

    /// Handles one non-blank, non-comment logical line.
    fn content_line(
        &mut self,
        line_no: u64,
        line: &[u8],
        entry: &mut Option<RawEntry>,
        trailer: &mut bool,
    ) -> Result<(), SourceError> {
        let (attr, spec) = split_line(line).map_err(|m| self.error(line_no, m))?;
        let at_start = std::mem::replace(&mut self.at_start, false);

        if attr.eq_ignore_ascii_case("dn") {
            if entry.is_some() || *trailer {
                return Err(self.error(
                    line_no,
                    "a second dn: line in one record (records are separated by a blank line)",
                ));
            }
            let dn = self.value_bytes(line_no, "dn", spec)?;
            let dn = String::from_utf8(dn)
                .map_err(|_| self.error(line_no, "the DN is not valid UTF-8"))?;
            *entry = Some(RawEntry {
                dn,
                ..RawEntry::default()
            });
            return Ok(());
        }

        let Some(current) = entry.as_mut() else {
            if at_start && attr.eq_ignore_ascii_case("version") {
                let v = self.value_bytes(line_no, attr, spec)?;
                if v != b"1" {
                    return Err(self.error(
                        line_no,
                        format!(
                            "unsupported LDIF version `{}` (only version 1 exists)",
                            String::from_utf8_lossy(&v)
                        ),
                    ));
                }
                return Ok(());
            }
            if *trailer || is_trailer_start(attr) {
                *trailer = true;
                return self.trailer_line(line_no, attr, spec);
            }
            return Err(self.error(
                line_no,
                format!("record does not start with dn: (found `{attr}:`)"),
            ));
        };

        if attr.eq_ignore_ascii_case("changetype") {
            let v = self.value_bytes(line_no, attr, spec)?;
            if v.eq_ignore_ascii_case(b"add") {
                return Ok(());
            }
            return Err(self.error(
                line_no,
                format!(
                    "changetype: {} records are not supported; only content records and \
                     changetype: add (a dump, not a change log) can be read",
                    String::from_utf8_lossy(&v)
                ),
            ));
        }

        let value = self.value_bytes(line_no, attr, spec)?;
        current.push(attr, value);
        Ok(())
    }

    /// Checks a line of an ldapsearch `search:`/`result:` trailer or `ref:`
    /// search-reference record. After its first line such a record may hold
    /// anything ldapsearch prints about a result (`text:`, `matchedDN:`,
    /// `control:` and control-specific lines such as `pagedresults: cookie=`),
    /// so only `result:` is looked at: a non-zero result code is an error.
    fn trailer_line(
        &self,
        line_no: u64,
        attr: &str,
        spec: ValueSpec<'_>,
    ) -> Result<(), SourceError> {
        if attr.eq_ignore_ascii_case("result") {
            let v = self.value_bytes(line_no, attr, spec)?;
            let text = String::from_utf8_lossy(&v);
            let code = text
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u32>().ok());
            if code != Some(0) {
                return Err(self.error(
                    line_no,
                    format!("ldapsearch reported `result: {text}`: the dump is incomplete"),
                ));
            }
        }
        Ok(())
    }

    /// The bytes of a value.
    fn value_bytes(
        &self,
        line_no: u64,
        attr: &str,
        spec: ValueSpec<'_>,
    ) -> Result<Vec<u8>, SourceError> {
        match spec {
            ValueSpec::Plain(v) if looks_binary(v) => Err(self.error(
                line_no,
                format!(
                    "{attr}: the value holds binary bytes written without base64 \
                     (binary values are written `{attr}:: base64`)"
                ),
            )),
            ValueSpec::Plain(v) => Ok(v.to_vec()),
            ValueSpec::Base64(v) => base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|e| self.error(line_no, format!("{attr}:: invalid base64 value: {e}"))),
            ValueSpec::Url => Err(self.error(
                line_no,
                format!("{attr}:< file URLs are not supported; the value must be inline"),
            )),
        }
    }
}

impl<R: BufRead> DirectorySource for LdifSource<R> {
    fn next_entry(&mut self) -> Result<Option<RawEntry>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.read_record();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    fn description(&self) -> String {
        format!("LDIF file {}", self.name)
    }
}

/// Several LDIF files read in order as one directory (the domain's dump and
/// the configuration partition's, for instance). All are opened first, so a
/// missing file fails before anything is read.
#[derive(Debug)]
pub struct LdifFiles {
    files: Vec<LdifSource<BufReader<FileText>>>,
    at: usize,
}

impl LdifFiles {
    /// Opens every file.
    pub fn open(paths: &[impl AsRef<Path>]) -> Result<Self, SourceError> {
        let files = paths
            .iter()
            .map(LdifSource::open)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { files, at: 0 })
    }
}

impl DirectorySource for LdifFiles {
    fn next_entry(&mut self) -> Result<Option<RawEntry>, SourceError> {
        while let Some(file) = self.files.get_mut(self.at) {
            if let Some(entry) = file.next_entry()? {
                return Ok(Some(entry));
            }
            self.at += 1;
        }
        Ok(None)
    }

    fn description(&self) -> String {
        match self.files.as_slice() {
            [one] => one.description(),
            many => format!(
                "LDIF files {}",
                many.iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// How a value is written after the attribute description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueSpec<'a> {
    /// `attr: value`
    Plain(&'a [u8]),
    /// `attr:: base64`
    Base64(&'a [u8]),
    /// `attr:< url`
    Url,
}

/// Whether an attribute opens an ldapsearch trailer or reference record.
fn is_trailer_start(attr: &str) -> bool {
    ["search", "result", "ref"]
        .iter()
        .any(|k| attr.eq_ignore_ascii_case(k))
}

/// Splits `attr: value`, `attr:: base64` or `attr:< url`.
fn split_line(line: &[u8]) -> Result<(&str, ValueSpec<'_>), String> {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        if looks_binary(line) {
            return Err(
                "binary bytes where a line was expected: a binary value written \
                        without base64? (binary values are written `attribute:: base64`)"
                    .to_owned(),
            );
        }
        return Err("expected `attribute: value` but the line has no colon".to_owned());
    };
    let (attr, rest) = line.split_at(colon);
    let rest = rest.get(1..).unwrap_or_default();
    let valid = !attr.is_empty()
        && attr.first().is_some_and(u8::is_ascii_alphanumeric)
        && attr
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b';'));
    let attr = match std::str::from_utf8(attr) {
        Ok(a) if valid => a,
        _ => {
            let shown: String = String::from_utf8_lossy(attr).chars().take(64).collect();
            return Err(format!("invalid attribute description `{shown}`"));
        }
    };
    let spec = match rest.first() {
        Some(b':') => ValueSpec::Base64(trim_spaces(rest.get(1..).unwrap_or_default())),
        Some(b'<') => ValueSpec::Url,
        _ => ValueSpec::Plain(trim_leading_spaces(rest)),
    };
    Ok((attr, spec))
}

/// Bytes that no text line holds: invalid UTF-8, or NUL.
fn looks_binary(v: &[u8]) -> bool {
    v.contains(&0) || std::str::from_utf8(v).is_err()
}

fn trim_leading_spaces(v: &[u8]) -> &[u8] {
    let n = v.iter().take_while(|&&b| b == b' ').count();
    v.get(n..).unwrap_or_default()
}

fn trim_spaces(v: &[u8]) -> &[u8] {
    let v = trim_leading_spaces(v);
    let n = v.iter().rev().take_while(|&&b| b == b' ').count();
    v.get(..v.len() - n).unwrap_or_default()
}

#[cfg(test)]
mod tests;
