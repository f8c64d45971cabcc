//! A minimal, bounded BER reader (X.690): just enough to walk a CMS
//! ContentInfo whose lengths may be indefinite, and to check the top-level
//! shape of private-key structures.
//!
//! All offsets are positions in one base buffer, so a caller can report
//! where an element lies inside the whole attribute value. Every access is
//! checked: any input gives an element or an error, never a panic. Nested
//! indefinite lengths are followed to at most [`MAX_DEPTH`] levels.

use std::ops::Range;

/// Deepest nesting of indefinite-length elements that is followed.
pub(crate) const MAX_DEPTH: u32 = 32;

/// Tag class `universal`.
pub(crate) const UNIVERSAL: u8 = 0;
/// Tag class `context-specific`.
pub(crate) const CONTEXT: u8 = 2;

/// Universal tag numbers used by this module's callers.
pub(crate) const TAG_INTEGER: u32 = 2;
pub(crate) const TAG_OCTET_STRING: u32 = 4;
pub(crate) const TAG_OID: u32 = 6;
pub(crate) const TAG_SEQUENCE: u32 = 16;
pub(crate) const TAG_SET: u32 = 17;

/// One element: identifier, and where its parts lie in the base buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tlv {
    /// Tag class (0 universal, 1 application, 2 context-specific, 3 private).
    pub(crate) class: u8,
    /// Constructed (true) or primitive encoding.
    pub(crate) constructed: bool,
    /// Tag number.
    pub(crate) tag: u32,
    /// Offset of the identifier octet.
    pub(crate) start: usize,
    /// Offset of the first content octet.
    pub(crate) content_start: usize,
    /// Offset just after the last content octet (before the end-of-contents octets).
    pub(crate) content_end: usize,
    /// Offset just after the element, including end-of-contents octets.
    pub(crate) end: usize,
    /// The length was indefinite.
    pub(crate) indefinite: bool,
}

impl Tlv {
    /// True when this element has the given class, form and tag number.
    pub(crate) fn is(&self, class: u8, constructed: bool, tag: u32) -> bool {
        self.class == class && self.constructed == constructed && self.tag == tag
    }

    /// The whole element's byte range.
    pub(crate) fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The content octets (for a definite-length primitive element, its value).
    pub(crate) fn content<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.content_start..self.content_end).unwrap_or(&[])
    }
}

/// Why an element could not be read; `at` is the offset in the base buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BerError {
    pub(crate) what: &'static str,
    pub(crate) at: usize,
}

impl std::fmt::Display for BerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.what, self.at)
    }
}

fn fail<T>(what: &'static str, at: usize) -> Result<T, BerError> {
    Err(BerError { what, at })
}

/// The header of an element: identifier and length.
struct Header {
    class: u8,
    constructed: bool,
    tag: u32,
    content_start: usize,
    /// `None` for the indefinite form.
    length: Option<usize>,
}

fn read_header(buf: &[u8], pos: usize, limit: usize) -> Result<Header, BerError> {
    let byte = |p: usize| -> Result<u8, BerError> {
        if p < limit {
            buf.get(p).copied().map_or_else(|| fail("truncated", p), Ok)
        } else {
            fail("truncated", p)
        }
    };
    let id = byte(pos)?;
    let class = id >> 6;
    let constructed = id & 0x20 != 0;
    let mut tag = u32::from(id & 0x1f);
    let mut p = pos + 1;
    if tag == 0x1f {
        // High tag number form: base-128, at most 4 octets (28 bits).
        tag = 0;
        let mut n = 0;
        loop {
            let b = byte(p)?;
            p += 1;
            n += 1;
            if n > 4 {
                return fail("tag number too large", pos);
            }
            tag = (tag << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let first = byte(p)?;
    p += 1;
    let length = match first {
        0..=0x7f => Some(usize::from(first)),
        0x80 => {
            if !constructed {
                return fail("indefinite length on a primitive element", pos);
            }
            None
        }
        0x81..=0x88 => {
            let mut len: u64 = 0;
            for _ in 0..(first & 0x7f) {
                len = (len << 8) | u64::from(byte(p)?);
                p += 1;
            }
            match usize::try_from(len) {
                Ok(l) => Some(l),
                Err(_) => return fail("length too large", pos),
            }
        }
        _ => return fail("invalid length octet", pos),
    };
    Ok(Header {
        class,
        constructed,
        tag,
        content_start: p,
        length,
    })
}

/// Reads the element starting at `pos`, which must end at or before `limit`.
/// `depth` counts the indefinite-length elements already entered.
pub(crate) fn read(buf: &[u8], pos: usize, limit: usize, depth: u32) -> Result<Tlv, BerError> {
    let limit = limit.min(buf.len());
    let h = read_header(buf, pos, limit)?;
    match h.length {
        Some(len) => {
            let end = match h.content_start.checked_add(len) {
                Some(e) if e <= limit => e,
                _ => return fail("element runs past the end of its container", pos),
            };
            Ok(Tlv {
                class: h.class,
                constructed: h.constructed,
                tag: h.tag,
                start: pos,
                content_start: h.content_start,
                content_end: end,
                end,
                indefinite: false,
            })
        }
        None => {
            if depth >= MAX_DEPTH {
                return fail("indefinite lengths nested too deeply", pos);
            }
            let mut p = h.content_start;
            loop {
                if p >= limit {
                    return fail("missing end-of-contents", pos);
                }
                if buf.get(p..p + 2) == Some(&[0, 0]) && p + 2 <= limit {
                    return Ok(Tlv {
                        class: h.class,
                        constructed: h.constructed,
                        tag: h.tag,
                        start: pos,
                        content_start: h.content_start,
                        content_end: p,
                        end: p + 2,
                        indefinite: true,
                    });
                }
                let child = read(buf, p, limit, depth + 1)?;
                p = child.end;
            }
        }
    }
}

/// Reads the header of the element at `pos` without requiring its content
/// to be complete: the content is clamped to the end of `buf` (for the
/// indefinite form, it runs to the end of `buf`). For a quick look at the
/// start of a possibly truncated structure.
pub(crate) fn open(buf: &[u8], pos: usize) -> Option<Tlv> {
    let h = read_header(buf, pos, buf.len()).ok()?;
    let end = match h.length {
        Some(len) => h.content_start.saturating_add(len).min(buf.len()),
        None => buf.len(),
    };
    Some(Tlv {
        class: h.class,
        constructed: h.constructed,
        tag: h.tag,
        start: pos,
        content_start: h.content_start,
        content_end: end,
        end,
        indefinite: h.length.is_none(),
    })
}

/// Iterates over the children of a constructed element read with [`read`].
pub(crate) struct Children<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    depth: u32,
    failed: bool,
}

impl Iterator for Children<'_> {
    type Item = Result<Tlv, BerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.end {
            return None;
        }
        let r = read(self.buf, self.pos, self.end, self.depth);
        match &r {
            Ok(t) => self.pos = t.end,
            Err(_) => self.failed = true,
        }
        Some(r)
    }
}

/// The children of `parent`; `depth` is the parent's nesting depth.
pub(crate) fn children<'a>(buf: &'a [u8], parent: &Tlv, depth: u32) -> Children<'a> {
    let depth = if parent.indefinite { depth + 1 } else { depth };
    Children {
        buf,
        pos: parent.content_start,
        end: if parent.constructed {
            parent.content_end
        } else {
            parent.content_start
        },
        depth,
        failed: false,
    }
}

/// The dotted form of an OBJECT IDENTIFIER's content octets, e.g.
/// `1.3.6.1.5.5.7.3.4`; arcs that do not fit 64 bits, or malformed
/// content, give the content octets in hex instead.
pub(crate) fn oid_to_string(content: &[u8]) -> String {
    let mut s = String::with_capacity(content.len() * 3);
    if write_dotted(content, &mut s) {
        s
    } else {
        crate::hex::encode_lower(content)
    }
}

/// Appends the dotted form to `out`; false (with `out` partly written) when
/// the content is empty, not minimally encoded, truncated, or has an arc
/// beyond 64 bits.
fn write_dotted(content: &[u8], out: &mut String) -> bool {
    if content.is_empty() {
        return false;
    }
    let mut cur: u64 = 0;
    let mut first = true;
    for (i, &b) in content.iter().enumerate() {
        if (cur == 0 && b == 0x80) || cur > (u64::MAX >> 7) {
            return false; // non-minimal encoding, or an arc beyond 64 bits
        }
        cur = (cur << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if first {
                let (a, b) = match cur {
                    0..=39 => (0, cur),
                    40..=79 => (1, cur - 40),
                    _ => (2, cur - 80),
                };
                push_decimal(out, a);
                out.push('.');
                push_decimal(out, b);
                first = false;
            } else {
                out.push('.');
                push_decimal(out, cur);
            }
            cur = 0;
        } else if i + 1 == content.len() {
            return false; // the last octet has the continuation bit
        }
    }
    true
}

/// Appends `n` in decimal (one arc of an OID, per certificate: no `fmt`).
fn push_decimal(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn definite_and_indefinite() {
        // SEQUENCE (indefinite) { INTEGER 5, [0] (indefinite) { OCTET STRING "a" } }
        let b = [
            0x30, 0x80, 0x02, 0x01, 0x05, 0xa0, 0x80, 0x04, 0x01, b'a', 0, 0, 0, 0,
        ];
        let t = read(&b, 0, b.len(), 0).unwrap();
        assert!(t.indefinite && t.is(UNIVERSAL, true, TAG_SEQUENCE));
        assert_eq!((t.content_start, t.content_end, t.end), (2, 12, 14));
        let kids: Vec<_> = children(&b, &t, 0).collect::<Result<_, _>>().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].content(&b), &[5]);
        assert!(kids[1].is(CONTEXT, true, 0));
        assert_eq!(kids[1].range(), 5..12);
    }

    #[test]
    fn rejects_malformed() {
        for b in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x02],
            &[0x04, 0x80, 0, 0],
            &[0x30, 0x80, 0x02, 0x01, 0x05],
            &[0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            &[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00],
        ] {
            assert!(read(b, 0, b.len(), 0).is_err(), "{b:02x?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(read(&deep, 0, deep.len(), 0).is_err());
    }

    #[test]
    fn oid_strings() {
        assert_eq!(
            oid_to_string(&[0x2b, 6, 1, 5, 5, 7, 3, 4]),
            "1.3.6.1.5.5.7.3.4"
        );
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 2]),
            "1.2.840.113549.1.7.2"
        );
        assert_eq!(oid_to_string(&[0x55, 0x1d, 0x25, 0x00]), "2.5.29.37.0");
        assert_eq!(oid_to_string(&[0x2b, 0x86]), "2b86");
        assert_eq!(oid_to_string(&[0x2b, 0x80, 0x01]), "2b8001");
        assert_eq!(oid_to_string(&[0x00]), "0.0");
        assert_eq!(oid_to_string(&[0x28]), "1.0");
        assert_eq!(oid_to_string(&[0x88, 0x37, 0x03]), "2.999.3");
        assert_eq!(
            oid_to_string(&[0x2b, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            "1.3.18446744073709551615"
        );
        assert_eq!(
            oid_to_string(&[0x2b, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            "2b82808080808080808000"
        );
        assert_eq!(oid_to_string(&[]), "");
    }
}
