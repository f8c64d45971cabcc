//! UTF-16 to UTF-8 on the fly, for `ldifde -u` dumps (UTF-16LE with a byte
//! order mark): the LDIF reader sees UTF-8 and memory stays flat however
//! large the file.

use std::io::{self, Read};

/// The encoding a byte order mark names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without its BOM (the reader removes it).
    Utf8,
    /// UTF-16 little-endian (`FF FE`).
    Utf16Le,
    /// UTF-16 big-endian (`FE FF`).
    Utf16Be,
}

impl Encoding {
    /// The encoding the first bytes of a file announce (UTF-8 without a BOM
    /// announces nothing and is UTF-8).
    pub fn sniff(first: &[u8]) -> Self {
        match first {
            [0xFF, 0xFE, ..] => Self::Utf16Le,
            [0xFE, 0xFF, ..] => Self::Utf16Be,
            _ => Self::Utf8,
        }
    }

    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf16Le => "UTF-16LE",
            Self::Utf16Be => "UTF-16BE",
        }
    }
}

/// Reads UTF-16 (after its BOM) from `inner` and yields UTF-8. A lone
/// surrogate or an odd number of bytes is an `InvalidData` error naming the
/// byte offset.
#[derive(Debug)]
pub struct Utf16ToUtf8<R> {
    inner: R,
    big_endian: bool,
    /// Raw bytes read and not yet decoded (an odd byte, a pending high surrogate).
    pending: Vec<u8>,
    /// Decoded UTF-8 not yet handed out.
    out: Vec<u8>,
    out_pos: usize,
    /// Offset in the file of `pending[0]`.
    offset: u64,
    eof: bool,
}

const CHUNK: usize = 64 * 1024;

impl<R: Read> Utf16ToUtf8<R> {
    /// Wraps `inner`, positioned just after the 2-byte BOM (which counts in offsets).
    pub fn new(inner: R, big_endian: bool) -> Self {
        Self {
            inner,
            big_endian,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            offset: 2,
            eof: false,
        }
    }

    fn unit(&self, i: usize) -> u16 {
        let (a, b) = (self.pending[i], self.pending[i + 1]);
        if self.big_endian {
            u16::from_be_bytes([a, b])
        } else {
            u16::from_le_bytes([a, b])
        }
    }

    /// Decodes what `pending` holds into `out`, keeping an incomplete tail.
    fn decode(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        let mut i = 0;
        let mut utf8 = [0u8; 4];
        while i + 1 < self.pending.len() {
            let u = self.unit(i);
            let (c, used) = match u {
                0xD800..=0xDBFF => {
                    if i + 3 >= self.pending.len() {
                        if self.eof {
                            return Err(self.invalid(i, "a high surrogate at the end of the file"));
                        }
                        break; // wait for the low surrogate
                    }
                    let lo = self.unit(i + 2);
                    if !(0xDC00..=0xDFFF).contains(&lo) {
                        return Err(self.invalid(i, "a high surrogate without its low surrogate"));
                    }
                    let cp = 0x10000 + ((u32::from(u) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                    (char::from_u32(cp), 4)
                }
                0xDC00..=0xDFFF => return Err(self.invalid(i, "a lone low surrogate")),
                _ => (char::from_u32(u32::from(u)), 2),
            };
            let c = c.ok_or_else(|| self.invalid(i, "not a character"))?;
            self.out
                .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            i += used;
        }
        if self.eof && i < self.pending.len() && self.out.is_empty() {
            return Err(self.invalid(i, "an odd number of bytes"));
        }
        self.pending.drain(..i);
        self.offset += i as u64;
        Ok(())
    }

    fn invalid(&self, i: usize, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not valid UTF-16: {what} at byte {}",
                self.offset + i as u64
            ),
        )
    }
}

impl<R: Read> Read for Utf16ToUtf8<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            if self.eof && self.pending.is_empty() {
                return Ok(0);
            }
            if !self.eof {
                let start = self.pending.len();
                self.pending.resize(start + CHUNK, 0);
                let n = loop {
                    match self.inner.read(&mut self.pending[start..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            self.pending.truncate(start);
                            return Err(e);
                        }
                    }
                };
                self.pending.truncate(start + n);
                if n == 0 {
                    self.eof = true;
                }
            }
            self.decode()?;
            if self.eof && self.out.is_empty() && !self.pending.is_empty() {
                return Err(self.invalid(0, "an odd number of bytes"));
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str, be: bool) -> Vec<u8> {
        s.encode_utf16()
            .flat_map(|u| if be { u.to_be_bytes() } else { u.to_le_bytes() })
            .collect()
    }

    fn decode_all(bytes: &[u8], be: bool, chunk: usize) -> io::Result<String> {
        // A reader that hands out `chunk` bytes at a time.
        struct Dribble<'a>(&'a [u8], usize);
        impl Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = String::new();
        Utf16ToUtf8::new(Dribble(bytes, chunk), be).read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn decodes_both_byte_orders_and_surrogates_across_any_chunking() {
        let text = "dn: CN=Walter Weiß,DC=x\r\ncn:: V2FsdGVy\r\nsn: 😀 ok\r\n";
        for be in [false, true] {
            for chunk in [1, 2, 3, 5, 64 * 1024] {
                assert_eq!(decode_all(&utf16(text, be), be, chunk).unwrap(), text);
            }
        }
    }

    #[test]
    fn invalid_utf16_is_an_error_with_its_offset() {
        let mut b = utf16("ab", false);
        b.extend_from_slice(&[0x00, 0xDC]); // lone low surrogate at byte 4 of the data
        let e = decode_all(&b, false, 7).unwrap_err();
        assert!(
            e.to_string().contains("lone low surrogate at byte 6"),
            "{e}"
        );
        let mut b = utf16("ab", false);
        b.push(0x41);
        assert!(decode_all(&b, false, 3)
            .unwrap_err()
            .to_string()
            .contains("odd number"));
        let b = [0x3D, 0xD8]; // high surrogate, then end
        assert!(decode_all(&b, false, 1)
            .unwrap_err()
            .to_string()
            .contains("end of the file"));
    }

    #[test]
    fn sniffs_the_byte_order_mark() {
        assert_eq!(Encoding::sniff(&[0xFF, 0xFE, 0x64, 0]), Encoding::Utf16Le);
        assert_eq!(Encoding::sniff(&[0xFE, 0xFF]), Encoding::Utf16Be);
        assert_eq!(Encoding::sniff(&[0xEF, 0xBB, 0xBF]), Encoding::Utf8);
        assert_eq!(Encoding::sniff(b"dn: x"), Encoding::Utf8);
        assert_eq!(Encoding::sniff(&[]), Encoding::Utf8);
    }
}
