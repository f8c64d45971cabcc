//! The zip profile of SPEC.md §4.3, written front to back.
//!
//! Every member's CRC-32 and length are known before its local header is
//! written (values are in memory; spooled members were checksummed while they
//! were spooled), so each header is written once, in place, and the output only
//! ever grows: no seek, no patch, and every byte handed to the output is final.
//! That lets a caller hash the file while it is being written (the exporter
//! does). The output sees writes of [`OUT_CHUNK`] bytes.

use std::io::{self, Write};

/// Output is handed on in writes of this size.
pub(crate) const OUT_CHUNK: usize = 1 << 20;

/// More members than this need the ZIP64 end records (SPEC.md §4.3, item 3).
const ZIP32_MEMBERS: u64 = 0xffff;

/// "version needed to extract" and the low byte of "version made by": 1.0.
const VERSION: u16 = 10;
/// "version made by": Unix, 1.0.
const MADE_BY: u16 = 0x0300 | VERSION;
/// The same two for a deflated member (revision 1.4): 2.0.
const VERSION_DEFLATE: u16 = 20;
const MADE_BY_DEFLATE: u16 = 0x0300 | VERSION_DEFLATE;
/// Compression method 8, DEFLATE.
const METHOD_DEFLATE: u16 = 8;
/// 1980-01-01 in MS-DOS date form.
const DOS_DATE: u16 = 0x0021;
/// Regular file, mode 0644, in the high 16 bits.
const EXTERNAL_ATTRIBUTES: u32 = 0o100644 << 16;

/// Writes the zip profile: [`ZipWriter::start`] each member with its CRC-32
/// and length, [`ZipWriter::data`] exactly that many bytes, then
/// [`ZipWriter::finish`]. Dropping the writer discards what it buffered.
pub(crate) struct ZipWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Bytes emitted so far (written and buffered): the next member's offset.
    offset: u64,
    /// The central directory headers of the members so far.
    central: Vec<u8>,
    members: u64,
    /// Data bytes the current member still expects.
    pending: u64,
}

fn too_large(what: &str) -> io::Error {
    io::Error::other(format!(
        "{what} does not fit the zip32 fields of the bundle profile"
    ))
}

impl<W: Write> ZipWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(OUT_CHUNK),
            offset: 0,
            central: Vec::new(),
            members: 0,
            pending: 0,
        }
    }

    /// Writes a stored member's local header; its `len` data bytes follow
    /// through [`ZipWriter::data`].
    pub(crate) fn start(&mut self, name: &str, crc: u32, len: u64) -> io::Result<()> {
        self.start_member(name, crc, None, len)
    }

    /// Writes a deflated member's local header (SPEC.md §4.3, revision 1.4):
    /// `crc` and `len` are those of the uncompressed text, and its
    /// `compressed` bytes of raw DEFLATE follow through [`ZipWriter::data`].
    pub(crate) fn start_deflated(
        &mut self,
        name: &str,
        crc: u32,
        compressed: u64,
        len: u64,
    ) -> io::Result<()> {
        self.start_member(name, crc, Some(compressed), len)
    }

    fn start_member(
        &mut self,
        name: &str,
        crc: u32,
        compressed: Option<u64>,
        len: u64,
    ) -> io::Result<()> {
        if self.pending != 0 {
            return Err(io::Error::other(format!(
                "zip member {name} started with {} bytes of the previous one missing",
                self.pending
            )));
        }
        let size = u32::try_from(len).map_err(|_| too_large(name))?;
        let stored = u32::try_from(compressed.unwrap_or(len)).map_err(|_| too_large(name))?;
        let (version, made_by, method) = match compressed {
            None => (VERSION, MADE_BY, 0),
            Some(_) => (VERSION_DEFLATE, MADE_BY_DEFLATE, METHOD_DEFLATE),
        };
        let offset = u32::try_from(self.offset).map_err(|_| too_large("the bundle"))?;
        let name_len = u16::try_from(name.len()).map_err(|_| too_large(name))?;

        let mut local = [0u8; 30];
        put(&mut local, 0, &[0x50, 0x4b, 0x03, 0x04]);
        put(&mut local, 4, &version.to_le_bytes());
        // 6: flags 0, 10: time 0.
        put(&mut local, 8, &method.to_le_bytes());
        put(&mut local, 12, &DOS_DATE.to_le_bytes());
        put(&mut local, 14, &crc.to_le_bytes());
        put(&mut local, 18, &stored.to_le_bytes());
        put(&mut local, 22, &size.to_le_bytes());
        put(&mut local, 26, &name_len.to_le_bytes());
        // 28: extra field length 0.
        self.emit(&local)?;
        self.emit(name.as_bytes())?;

        let mut central = [0u8; 46];
        put(&mut central, 0, &[0x50, 0x4b, 0x01, 0x02]);
        put(&mut central, 4, &made_by.to_le_bytes());
        put(&mut central, 6, &version.to_le_bytes());
        // 8: flags, 12: time.
        put(&mut central, 10, &method.to_le_bytes());
        put(&mut central, 14, &DOS_DATE.to_le_bytes());
        put(&mut central, 16, &crc.to_le_bytes());
        put(&mut central, 20, &stored.to_le_bytes());
        put(&mut central, 24, &size.to_le_bytes());
        put(&mut central, 28, &name_len.to_le_bytes());
        // 30: extra, 32: comment, 34: disk, 36: internal attributes, all 0.
        put(&mut central, 38, &EXTERNAL_ATTRIBUTES.to_le_bytes());
        put(&mut central, 42, &offset.to_le_bytes());
        self.central.extend_from_slice(&central);
        self.central.extend_from_slice(name.as_bytes());

        self.members += 1;
        self.pending = u64::from(stored);
        Ok(())
    }

    /// Writes data of the current member.
    pub(crate) fn data(&mut self, data: &[u8]) -> io::Result<()> {
        let len = data.len() as u64;
        if len > self.pending {
            return Err(io::Error::other(
                "zip member data longer than its header says",
            ));
        }
        self.pending -= len;
        self.emit(data)
    }

    /// Writes a whole member.
    pub(crate) fn member(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.start(name, crc32fast::hash(data), data.len() as u64)?;
        self.data(data)
    }

    /// Writes the central directory and the end records, flushes the output
    /// and returns it.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if self.pending != 0 {
            return Err(io::Error::other("the last zip member is incomplete"));
        }
        let cd_offset = self.offset;
        let cd_size = self.central.len() as u64;
        let central = std::mem::take(&mut self.central);
        self.emit(&central)?;
        let cd_end = self.offset;
        let cd_offset32 = u32::try_from(cd_offset).map_err(|_| too_large("the bundle"))?;

        let (count16, size32) = if self.members > ZIP32_MEMBERS {
            let mut record = [0u8; 56];
            put(&mut record, 0, &[0x50, 0x4b, 0x06, 0x06]);
            put(&mut record, 4, &44u64.to_le_bytes());
            put(&mut record, 12, &VERSION.to_le_bytes());
            put(&mut record, 14, &VERSION.to_le_bytes());
            // 16: this disk, 20: disk of the central directory, both 0.
            put(&mut record, 24, &self.members.to_le_bytes());
            put(&mut record, 32, &self.members.to_le_bytes());
            put(&mut record, 40, &cd_size.to_le_bytes());
            put(&mut record, 48, &cd_offset.to_le_bytes());
            self.emit(&record)?;

            let mut locator = [0u8; 20];
            put(&mut locator, 0, &[0x50, 0x4b, 0x06, 0x07]);
            // 4: disk with the ZIP64 record, 0.
            put(&mut locator, 8, &cd_end.to_le_bytes());
            put(&mut locator, 16, &1u32.to_le_bytes());
            self.emit(&locator)?;
            (0xffff, 0xffff_ffff)
        } else {
            (
                self.members as u16,
                u32::try_from(cd_size).map_err(|_| too_large("the zip directory"))?,
            )
        };
        let mut end = [0u8; 22];
        put(&mut end, 0, &[0x50, 0x4b, 0x05, 0x06]);
        // 4: this disk, 6: disk of the central directory, both 0.
        put(&mut end, 8, &count16.to_le_bytes());
        put(&mut end, 10, &count16.to_le_bytes());
        put(&mut end, 12, &size32.to_le_bytes());
        put(&mut end, 16, &cd_offset32.to_le_bytes());
        // 20: comment length 0.
        self.emit(&end)?;
        u32::try_from(self.offset).map_err(|_| too_large("the bundle"))?;

        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        self.buf = Vec::new();
        Ok(self.out)
    }

    /// Appends to the output buffer, handing it on whenever it fills.
    fn emit(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.offset += data.len() as u64;
        while !data.is_empty() {
            let room = OUT_CHUNK - self.buf.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now);
            data = later;
            if self.buf.len() == OUT_CHUNK {
                self.out.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }
}

fn put(header: &mut [u8], at: usize, bytes: &[u8]) {
    header[at..at + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Counts the writes the output sees.
    struct Writes(Vec<u8>, usize);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(buf);
            self.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = ZipWriter::new(Vec::new());
        for (name, data) in members {
            z.member(name, data).unwrap();
        }
        z.finish().unwrap()
    }

    #[test]
    fn one_member_is_laid_out_byte_for_byte_as_the_spec_says() {
        let zip = zip_of(&[("a", b"xyz")]);
        let crc = crc32fast::hash(b"xyz").to_le_bytes();
        let mut want = vec![0x50, 0x4b, 3, 4, 10, 0, 0, 0, 0, 0, 0, 0, 0x21, 0];
        want.extend_from_slice(&crc);
        want.extend_from_slice(&[3, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0]);
        want.extend_from_slice(b"axyz");
        let cd = want.len();
        want.extend_from_slice(&[0x50, 0x4b, 1, 2, 10, 3, 10, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        want.extend_from_slice(&crc);
        want.extend_from_slice(&[3, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&[0, 0, 0xa4, 0x81, 0, 0, 0, 0]);
        want.push(b'a');
        want.extend_from_slice(&[0x50, 0x4b, 5, 6, 0, 0, 0, 0, 1, 0, 1, 0, 47, 0, 0, 0]);
        want.extend_from_slice(&(cd as u32).to_le_bytes());
        want.extend_from_slice(&[0, 0]);
        assert_eq!(zip, want);
    }

    #[test]
    fn more_than_65535_members_get_the_zip64_end_records() {
        let names: Vec<String> = (0..65_536).map(|i| format!("{i:08}")).collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let zip = zip_of(&members);
        let cd_offset = 65_536 * (30 + 8);
        let cd_end = cd_offset + 65_536 * (46 + 8);
        let tail = &zip[cd_end..];
        assert_eq!(tail.len(), 56 + 20 + 22);
        assert_eq!(&tail[..4], &[0x50, 0x4b, 6, 6]);
        assert_eq!(&tail[24..32], &65_536u64.to_le_bytes());
        assert_eq!(&tail[32..40], &65_536u64.to_le_bytes());
        assert_eq!(&tail[40..48], &((cd_end - cd_offset) as u64).to_le_bytes());
        assert_eq!(&tail[48..56], &(cd_offset as u64).to_le_bytes());
        assert_eq!(&tail[56..60], &[0x50, 0x4b, 6, 7]);
        assert_eq!(&tail[64..72], &(cd_end as u64).to_le_bytes());
        assert_eq!(&tail[72..76], &1u32.to_le_bytes());
        let end = &tail[76..];
        assert_eq!(
            &end[8..16],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(&end[16..20], &(cd_offset as u32).to_le_bytes());
        // The strict reader agrees.
        assert_eq!(
            crate::zip_read::read_members(&zip, 0).unwrap().len(),
            65_536
        );
    }

    #[test]
    fn exactly_65535_members_need_no_zip64_records() {
        let names: Vec<String> = (0..65_535).map(|i| format!("{i:08}")).collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let zip = zip_of(&members);
        assert_eq!(zip.len(), 65_535 * (30 + 8 + 46 + 8) + 22);
        assert_eq!(
            &zip[zip.len() - 14..zip.len() - 10],
            &[0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn the_output_sees_whole_chunks_and_then_the_rest() {
        let big = vec![7u8; 3 * OUT_CHUNK + 5];
        let mut z = ZipWriter::new(Writes(Vec::new(), 0));
        z.member("big", &big).unwrap();
        let out = z.finish().unwrap();
        assert_eq!(out.1, 4);
        assert_eq!(&out.0[33..33 + big.len()], &big[..]);
    }

    #[test]
    fn data_must_match_the_length_in_the_header() {
        let mut z = ZipWriter::new(Vec::new());
        z.start("a", 0, 2).unwrap();
        assert!(z.data(b"abc").is_err());
        z.data(b"a").unwrap();
        assert!(z.start("b", 0, 0).is_err());
        let mut z = ZipWriter::new(Vec::new());
        z.start("a", 0, 2).unwrap();
        assert!(z.finish().is_err());
    }
}
