//! A strict reader for exactly the zip profile of SPEC.md §4. It accepts the
//! one byte layout our writer produces and rejects everything else: every byte
//! of the file is accounted for exactly once, local and central headers must
//! agree field by field, and no field may hold a value other than the one the
//! profile fixes.
//!
//! The `zip` crate is deliberately not used to read: it merges duplicate
//! names and trusts the central directory alone (parser differentials).
//!
//! Revision 1.4 lets three text members be deflated (SPEC.md §4.3): their
//! declared size is checked against the limit before a byte is inflated, the
//! stream must inflate to exactly that size and end exactly where the member
//! ends, and the CRC-32 is of the inflated bytes, which the member then holds.

use std::ops::Range;

use crate::inflate::{inflate_all, Inflated, Job};
use crate::{err, Result};

/// Local file header signature.
const LOCAL_SIG: u32 = 0x0403_4b50;
/// Central directory header signature.
const CENTRAL_SIG: u32 = 0x0201_4b50;
/// End of central directory signature.
const EOCD_SIG: u32 = 0x0605_4b50;
/// ZIP64 end of central directory record signature.
const EOCD64_SIG: u32 = 0x0606_4b50;
/// ZIP64 end of central directory locator signature.
const LOCATOR64_SIG: u32 = 0x0706_4b50;

/// "Version needed to extract": 1.0, stored only.
pub(crate) const VERSION_NEEDED: u16 = 10;
/// "Version made by": Unix (3) in the high byte, 1.0 in the low byte.
pub(crate) const VERSION_MADE_BY: u16 = 0x030a;
/// The same two for a deflated member: 2.0.
const VERSION_NEEDED_DEFLATE: u16 = 20;
const VERSION_MADE_BY_DEFLATE: u16 = 0x0314;
/// Compression method 8, DEFLATE.
const METHOD_DEFLATE: u16 = 8;
/// MS-DOS date 1980-01-01.
pub(crate) const DOS_DATE: u16 = 0x0021;
/// External attributes: a regular file with mode 0644.
pub(crate) const EXTERNAL_ATTRS: u32 = 0o100_644 << 16;
/// Members above this count need the ZIP64 end records.
pub(crate) const ZIP32_MAX_MEMBERS: usize = 0xffff;

const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const EOCD_LEN: usize = 22;
const EOCD64_LEN: usize = 56;
const LOCATOR64_LEN: usize = 20;

/// One member of a canonical zip: its name and where its bytes lie in the
/// file, or, for a deflated member, its inflated bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    /// Where its data lies in the file (compressed, when deflated).
    pub(crate) data: Range<usize>,
    /// The inflated bytes of a deflated member; `None` for a stored one,
    /// and for a deflated one whose name an earlier member has (not kept:
    /// `check_layout` refuses the repeat before any content is read).
    pub(crate) inflated: Option<Vec<u8>>,
}

impl Member {
    /// The member's content: the stored bytes in `file`, or the inflated ones.
    pub(crate) fn bytes<'a>(&'a self, file: &'a [u8]) -> &'a [u8] {
        match &self.inflated {
            Some(text) => text,
            None => &file[self.data.clone()],
        }
    }
}

/// The members a bundle may deflate (SPEC.md §4.3, revision 1.4); every
/// other member is stored.
pub(crate) fn may_deflate(name: &[u8]) -> bool {
    [
        crate::layout::MANIFEST,
        crate::layout::ENTRIES_JSONL,
        crate::layout::REVIEW_CSV,
    ]
    .iter()
    .any(|n| n.as_bytes() == name)
}

/// A little-endian cursor over a slice that turns running off the end into an error.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at(bytes: &'a [u8], pos: usize) -> Self {
        Self { bytes, pos }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.bytes.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(err!(
                ZipStructure,
                "{what} at offset {} runs past the end of the file",
                self.pos
            )),
        }
    }

    fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Requires a header field to hold the one value the profile allows.
fn expect_field<T: PartialEq + std::fmt::LowerHex>(
    got: T,
    want: T,
    field: &str,
    at: usize,
) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(err!(
            ZipStructure,
            "{field} of the header at offset {at} is {got:#x}, the profile requires {want:#x}"
        ))
    }
}

/// The fields a local header and its central header must agree on.
#[derive(PartialEq, Eq)]
struct Common {
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    name_len: u16,
}

impl Common {
    fn deflated(&self) -> bool {
        self.method == METHOD_DEFLATE
    }

    /// The version fields a member of this method must carry.
    fn versions(&self) -> (u16, u16) {
        if self.deflated() {
            (VERSION_NEEDED_DEFLATE, VERSION_MADE_BY_DEFLATE)
        } else {
            (VERSION_NEEDED, VERSION_MADE_BY)
        }
    }
}

/// Reads the fixed part shared by local and central headers after their
/// version fields: flags, method, time, date, crc, sizes, name and extra lengths.
/// The method is checked by the caller, which knows the name.
fn read_common(c: &mut Cursor<'_>, at: usize) -> Result<Common> {
    expect_field(c.u16("flags")?, 0, "general purpose flags", at)?;
    let method = c.u16("method")?;
    if method != 0 && method != METHOD_DEFLATE {
        return Err(err!(
            ZipStructure,
            "compression method of the header at offset {at} is {method}, the profile allows 0 (stored) or 8 (deflate)"
        ));
    }
    expect_field(c.u16("time")?, 0, "modification time", at)?;
    expect_field(c.u16("date")?, DOS_DATE, "modification date", at)?;
    let crc = c.u32("crc")?;
    let compressed = c.u32("compressed size")?;
    let size = c.u32("uncompressed size")?;
    if method == 0 {
        expect_field(compressed, size, "compressed size", at)?;
    }
    let name_len = c.u16("name length")?;
    expect_field(c.u16("extra length")?, 0, "extra field length", at)?;
    Ok(Common {
        method,
        crc,
        compressed,
        size,
        name_len,
    })
}

/// A member's local header, read and checked up to where its data ends.
struct Local<'a> {
    /// Where its local header starts.
    at: usize,
    common: Common,
    name: &'a [u8],
    /// Where its data lies (compressed, when deflated).
    data: Range<usize>,
}

/// Reads member `i`'s local header at `at` and makes every check that comes
/// before inflating it (SPEC.md §4.3): the header's fields, that its name may
/// be deflated when it is, and its declared size against `max_inflated`.
fn read_local(bytes: &[u8], at: usize, i: usize, max_inflated: u64) -> Result<Local<'_>> {
    let mut c = Cursor::at(bytes, at);
    if c.u32("local header")? != LOCAL_SIG {
        return Err(err!(
            ZipStructure,
            "member {i}: no local file header at offset {at} (prefix, gap or overlapping data)"
        ));
    }
    let version = c.u16("version")?;
    let common = read_common(&mut c, at)?;
    expect_field(version, common.versions().0, "version needed", at)?;
    let name = c.take(usize::from(common.name_len), "member name")?;
    let data_start = c.pos;
    c.take(common.compressed as usize, "member data")?;
    let data = data_start..c.pos;
    if common.deflated() {
        if !may_deflate(name) {
            return Err(err!(
                ZipStructure,
                "member {i} ({}) is deflated; only manifest-sha256.txt, data/entries.jsonl and data/review.csv may be",
                String::from_utf8_lossy(name)
            ));
        }
        if u64::from(common.size) > max_inflated {
            return Err(err!(
                SizeLimit,
                "member {i} ({}) declares {} bytes uncompressed, the limit is {max_inflated}",
                String::from_utf8_lossy(name),
                common.size
            ));
        }
    }
    Ok(Local {
        at,
        common,
        name,
        data,
    })
}

/// Inflates the deflated members among `locals`, side by side; one result
/// each, in member order. Only the first member of each name keeps its
/// bytes: a repeat is refused later (`zip-name`), and must not multiply the
/// memory a file can make a verifier hold.
fn inflate_deflated(
    bytes: &[u8],
    locals: &[Local<'_>],
) -> Vec<std::result::Result<Inflated, String>> {
    let mut seen: Vec<&[u8]> = Vec::new();
    let jobs: Vec<Job<'_>> = locals
        .iter()
        .filter(|l| l.common.deflated())
        .map(|l| {
            let keep = !seen.contains(&l.name);
            if keep {
                seen.push(l.name);
            }
            Job {
                raw: &bytes[l.data.clone()],
                size: l.common.size as usize,
                keep,
            }
        })
        .collect();
    inflate_all(&jobs)
}

/// Parses `bytes` as a zip in the canonical profile and returns its members in
/// file order, inflating the deflated ones (each declaring at most
/// `max_inflated` bytes, or `size-limit`). Checks structure only; names are
/// checked by the caller against the layout, and contents by the manifests.
pub(crate) fn read_members(bytes: &[u8], max_inflated: u64) -> Result<Vec<Member>> {
    let len = bytes.len();
    if len < EOCD_LEN {
        return Err(err!(
            ZipStructure,
            "file of {len} bytes is too short to be a zip"
        ));
    }
    let eocd_at = len - EOCD_LEN;
    let mut c = Cursor::at(bytes, eocd_at);
    if c.u32("end of central directory")? != EOCD_SIG {
        return Err(err!(
            ZipStructure,
            "no end-of-central-directory record in the last {EOCD_LEN} bytes (a zip comment or trailing bytes are not allowed)"
        ));
    }
    expect_field(c.u16("disk")?, 0, "disk number", eocd_at)?;
    expect_field(c.u16("disk")?, 0, "central directory disk", eocd_at)?;
    let n_disk = c.u16("count")?;
    let n_total = c.u16("count")?;
    let cd_size32 = c.u32("cd size")?;
    let cd_offset = c.u32("cd offset")? as usize;
    expect_field(c.u16("comment length")?, 0, "comment length", eocd_at)?;
    expect_field(n_disk, n_total, "member count on this disk", eocd_at)?;

    let (count, cd_end) = if n_total == 0xffff && cd_size32 == u32::MAX {
        // ZIP64 form, used only when there are more than 65535 members.
        let loc_at = eocd_at
            .checked_sub(LOCATOR64_LEN)
            .ok_or_else(|| err!(ZipStructure, "ZIP64 locator missing"))?;
        let mut l = Cursor::at(bytes, loc_at);
        expect_field(
            l.u32("locator")?,
            LOCATOR64_SIG,
            "ZIP64 locator signature",
            loc_at,
        )?;
        expect_field(l.u32("disk")?, 0, "ZIP64 locator disk", loc_at)?;
        let rec_at = l.u64("offset")?;
        expect_field(l.u32("disks")?, 1, "ZIP64 locator disk count", loc_at)?;
        let want_rec_at = loc_at
            .checked_sub(EOCD64_LEN)
            .ok_or_else(|| err!(ZipStructure, "ZIP64 end record missing"))?;
        expect_field(
            rec_at,
            want_rec_at as u64,
            "ZIP64 end record offset",
            loc_at,
        )?;
        let mut r = Cursor::at(bytes, want_rec_at);
        expect_field(
            r.u32("zip64 eocd")?,
            EOCD64_SIG,
            "ZIP64 end record signature",
            want_rec_at,
        )?;
        expect_field(r.u64("size")?, 44, "ZIP64 end record size", want_rec_at)?;
        expect_field(
            r.u16("made by")?,
            VERSION_NEEDED,
            "ZIP64 version made by",
            want_rec_at,
        )?;
        expect_field(
            r.u16("needed")?,
            VERSION_NEEDED,
            "ZIP64 version needed",
            want_rec_at,
        )?;
        expect_field(r.u32("disk")?, 0, "ZIP64 disk number", want_rec_at)?;
        expect_field(
            r.u32("disk")?,
            0,
            "ZIP64 central directory disk",
            want_rec_at,
        )?;
        let n1 = r.u64("count")?;
        let n2 = r.u64("count")?;
        expect_field(n1, n2, "ZIP64 member count on this disk", want_rec_at)?;
        let cd_size = r.u64("cd size")?;
        expect_field(
            r.u64("cd offset")?,
            cd_offset as u64,
            "ZIP64 central directory offset",
            want_rec_at,
        )?;
        if n1 <= ZIP32_MAX_MEMBERS as u64 {
            return Err(err!(
                ZipStructure,
                "ZIP64 end records used for {n1} members; the profile uses them only above {ZIP32_MAX_MEMBERS}"
            ));
        }
        let count = usize::try_from(n1)
            .map_err(|_| err!(ZipStructure, "member count {n1} is too large"))?;
        let cd_end = cd_offset
            .checked_add(usize::try_from(cd_size).unwrap_or(usize::MAX))
            .filter(|&e| e == want_rec_at)
            .ok_or_else(|| {
                err!(
                    ZipStructure,
                    "central directory does not end where the ZIP64 end record starts"
                )
            })?;
        (count, cd_end)
    } else {
        let cd_end = cd_offset
            .checked_add(cd_size32 as usize)
            .filter(|&e| e == eocd_at);
        let cd_end = cd_end.ok_or_else(|| {
            err!(
                ZipStructure,
                "central directory (offset {cd_offset}, size {cd_size32}) does not end where the end record starts ({eocd_at})"
            )
        })?;
        (usize::from(n_total), cd_end)
    };

    // Each member needs at least its two headers; this bounds `count` before allocating.
    if count.saturating_mul(LOCAL_LEN + CENTRAL_LEN + 2) > len {
        return Err(err!(
            ZipStructure,
            "member count {count} cannot fit in {len} bytes"
        ));
    }

    // Local headers and data, back to back from offset 0 up to the central
    // directory: first every header up to the first that fails; then the
    // deflated members among them, inflated side by side; then, member by
    // member, its inflation, CRC-32 and name. The error reported is the one
    // a reader checking member by member meets first (SPEC.md §4.3).
    let mut locals = Vec::with_capacity(count);
    let mut pos = 0usize;
    let mut header_error = None;
    for i in 0..count {
        match read_local(bytes, pos, i, max_inflated) {
            Ok(local) => {
                pos = local.data.end;
                locals.push(local);
            }
            Err(e) => {
                header_error = Some(e);
                break;
            }
        }
    }
    let mut inflated = inflate_deflated(bytes, &locals).into_iter();
    let mut members = Vec::with_capacity(locals.len());
    for (i, local) in locals.iter().enumerate() {
        let (text, crc) = if local.common.deflated() {
            let done = inflated
                .next()
                .unwrap_or_else(|| Err("was not inflated".into()))
                .map_err(|m| {
                    err!(
                        ZipStructure,
                        "member {i} ({}): {m}",
                        String::from_utf8_lossy(local.name)
                    )
                })?;
            (done.text, done.crc)
        } else {
            (None, crc32fast::hash(&bytes[local.data.clone()]))
        };
        if crc != local.common.crc {
            return Err(err!(ZipStructure, "member {i}: CRC-32 mismatch"));
        }
        let name = std::str::from_utf8(local.name)
            .map_err(|_| err!(ZipName, "member {i}: name is not UTF-8"))?
            .to_owned();
        members.push(Member {
            name,
            data: local.data.clone(),
            inflated: text,
        });
    }
    if let Some(e) = header_error {
        return Err(e);
    }
    if pos != cd_offset {
        return Err(err!(
            ZipStructure,
            "{} bytes between the last member and the central directory",
            cd_offset.abs_diff(pos)
        ));
    }

    // Central directory: one header per member, in the same order, agreeing field by field.
    let mut c = Cursor::at(bytes, cd_offset);
    for (i, (member, local)) in members.iter().zip(&locals).enumerate() {
        let local_at = &local.at;
        let local = &local.common;
        let at = c.pos;
        if c.u32("central header")? != CENTRAL_SIG {
            return Err(err!(
                ZipStructure,
                "member {i}: no central directory header at offset {at}"
            ));
        }
        let made_by = c.u16("made by")?;
        let version = c.u16("version")?;
        let central = read_common(&mut c, at)?;
        let (want_version, want_made_by) = central.versions();
        expect_field(made_by, want_made_by, "version made by", at)?;
        expect_field(version, want_version, "version needed", at)?;
        expect_field(c.u16("comment length")?, 0, "file comment length", at)?;
        expect_field(c.u16("disk")?, 0, "disk number start", at)?;
        expect_field(c.u16("internal attrs")?, 0, "internal attributes", at)?;
        expect_field(
            c.u32("external attrs")?,
            EXTERNAL_ATTRS,
            "external attributes",
            at,
        )?;
        expect_field(
            c.u32("offset")? as usize,
            *local_at,
            "local header offset",
            at,
        )?;
        if central != *local {
            return Err(err!(
                ZipStructure,
                "member {i} ({:?}): central and local headers disagree",
                member.name
            ));
        }
        let name = c.take(usize::from(central.name_len), "member name")?;
        if name != member.name.as_bytes() {
            return Err(err!(
                ZipStructure,
                "member {i}: central directory name differs from the local header name {:?}",
                member.name
            ));
        }
    }
    if c.pos != cd_end {
        return Err(err!(
            ZipStructure,
            "central directory holds more than {count} headers"
        ));
    }
    Ok(members)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write as _;

    use crate::zip_write::ZipWriter;

    /// A zip of `members`, each deflated.
    fn deflated_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = ZipWriter::new(Vec::new());
        for (name, text) in members {
            let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            d.write_all(text).unwrap();
            let raw = d.finish().unwrap();
            z.start_deflated(
                name,
                crc32fast::hash(text),
                raw.len() as u64,
                text.len() as u64,
            )
            .unwrap();
            z.data(&raw).unwrap();
        }
        z.finish().unwrap()
    }

    #[test]
    fn a_repeated_deflated_member_is_checked_but_only_the_first_is_kept() {
        let review = crate::layout::REVIEW_CSV;
        let entries = crate::layout::ENTRIES_JSONL;
        let zip = deflated_zip(&[
            (entries, b"e1\n"),
            (review, b"first\n"),
            (review, b"second\n"),
            (entries, b"e2\n"),
        ]);
        let members = super::read_members(&zip, 1 << 20).unwrap();
        let kept: Vec<Option<&[u8]>> = members.iter().map(|m| m.inflated.as_deref()).collect();
        assert_eq!(
            kept,
            [Some(&b"e1\n"[..]), Some(&b"first\n"[..]), None, None]
        );
        // A repeat is still inflated and checked: its CRC-32 is of its bytes.
        let third = local_header_offsets(&zip)[2];
        let mut bad = zip;
        bad[third + 14] ^= 1;
        let e = super::read_members(&bad, 1 << 20).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::ZipStructure, "{e}");
        assert!(e.message().contains("member 2"), "{e}");
    }

    /// Where each local header starts, walking from offset 0.
    fn local_header_offsets(zip: &[u8]) -> Vec<usize> {
        let mut at = 0;
        let mut out = Vec::new();
        let le = |i: usize, n: usize| {
            zip[i..i + n]
                .iter()
                .rev()
                .fold(0usize, |a, &b| (a << 8) | usize::from(b))
        };
        while le(at, 4) == 0x0403_4b50 {
            out.push(at);
            at += 30 + le(at + 26, 2) + le(at + 18, 4);
        }
        out
    }
}
