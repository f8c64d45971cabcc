//! The files of one export in the output directory: the bundle file, or the
//! part files of a snapshot in parts and their part index (SPEC.md §4.6).
//!
//! The first file is written through [`Publishing`], so that its digests are
//! computed behind the writer as for any bundle. A snapshot that outgrows its
//! part size goes on in further temp files, each hashed (SHA-256, all the part
//! index needs) as it is written. Nothing is in place until [`publish`] has
//! renamed every part, then the signature, then the part index: a part index
//! never appears without its parts and signature.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use certferry_format::model::BundleHeader;
use certferry_format::parts::{IndexedPart, PartIndex};
use certferry_format::{layout, BundleDigests, BundleWriter, Revision, Sha256, Sha256Hasher};
use tempfile::NamedTempFile;

use crate::export::{ExportError, PartSink};
use crate::follow_hash::Publishing;
use crate::output::{locked_temp, persist_new};

/// The output of one file.
#[derive(Debug)]
pub enum PartOut<'a> {
    /// The first file: the bundle, or part 1.
    First(Publishing<'a>),
    /// A later part, hashed as it is written.
    Later(LaterPart),
}

/// A part after the first, being written.
#[derive(Debug)]
pub struct LaterPart {
    tmp: NamedTempFile,
    file: File,
    sha: Sha256Hasher,
    len: u64,
}

impl Write for PartOut<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PartOut::First(p) => p.write(buf),
            PartOut::Later(p) => {
                let n = p.file.write(buf)?;
                p.sha.update(&buf[..n]);
                p.len += n as u64;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            PartOut::First(p) => p.flush(),
            PartOut::Later(p) => p.file.flush(),
        }
    }
}

/// A part after the first, written and synced, not yet in place.
#[derive(Debug)]
pub struct ClosedPart {
    /// Its part number.
    pub number: u32,
    /// Its temp file.
    pub tmp: NamedTempFile,
    sha256: Sha256,
}

/// The [`PartSink`] of an export into a directory.
#[derive(Debug)]
pub struct FileParts<'a> {
    dir: &'a Path,
    revision: Revision,
    first: Option<Publishing<'a>>,
    /// The first file's part number once it is closed (`None`: a bundle).
    pub first_part: Option<Option<u32>>,
    /// The parts after the first, as closed.
    pub later: Vec<ClosedPart>,
}

impl<'a> FileParts<'a> {
    /// Files in `dir`, the first written through `first`.
    pub fn new(dir: &'a Path, revision: Revision, first: Publishing<'a>) -> Self {
        Self {
            dir,
            revision,
            first: Some(first),
            first_part: None,
            later: Vec::new(),
        }
    }
}

fn write_error(what: &str, e: impl std::fmt::Display) -> ExportError {
    ExportError::Write(certferry_format::Error::new(
        certferry_format::ErrorClass::Write,
        format!("{what}: {e}"),
    ))
}

impl<'a> PartSink for FileParts<'a> {
    type Out = PartOut<'a>;
    type Spool = File;

    fn open(&mut self) -> Result<BundleWriter<PartOut<'a>, File, File>, ExportError> {
        let out = match self.first.take() {
            Some(first) => PartOut::First(first),
            None => {
                let tmp = locked_temp(self.dir, ".zip.tmp")
                    .map_err(|e| write_error(&self.dir.display().to_string(), e))?;
                let file = tmp
                    .reopen()
                    .map_err(|e| write_error("temporary part file", e))?;
                PartOut::Later(LaterPart {
                    tmp,
                    file,
                    sha: Sha256Hasher::new(),
                    len: 0,
                })
            }
        };
        let spool = |what| tempfile::tempfile().map_err(|e| write_error(what, e));
        Ok(BundleWriter::with_revision(
            out,
            spool("temporary spool file")?,
            spool("temporary spool file")?,
            self.revision,
        )?)
    }

    fn close(&mut self, out: PartOut<'a>, header: &BundleHeader) -> Result<(), ExportError> {
        match out {
            PartOut::First(p) => {
                p.complete();
                self.first_part = Some(header.part);
            }
            PartOut::Later(p) => {
                p.file
                    .sync_all()
                    .map_err(|e| write_error("temporary part file", e))?;
                let number = header
                    .part
                    .ok_or_else(|| write_error("a later file", "closed without a part number"))?;
                self.later.push(ClosedPart {
                    number,
                    tmp: p.tmp,
                    sha256: p.sha.finalize(),
                });
            }
        }
        Ok(())
    }
}

/// What [`publish`] put in place.
#[derive(Debug)]
pub struct Published {
    /// The part index.
    pub index: PathBuf,
    /// Its digests (signed, and the snapshot's identity).
    pub digests: BundleDigests,
    /// The part files, in part-number order, with their sizes.
    pub parts: Vec<(PathBuf, u64)>,
}

impl Published {
    /// Removes what was put in place (the state could not be saved).
    pub fn take_back(&self, sig: &Path) -> io::Result<()> {
        let mut result = Ok(());
        for path in std::iter::once(&self.index)
            .chain(std::iter::once(&sig.to_path_buf()))
            .chain(self.parts.iter().map(|(p, _)| p))
        {
            if let Err(e) = std::fs::remove_file(path) {
                result = result.and(Err(e));
            }
        }
        result.and_then(|()| crate::output::sync_dir(parent(&self.index)))
    }
}

fn parent(path: &Path) -> &Path {
    crate::output::parent_dir(path)
}

/// The part index of the parts written: the first file (whose SHA-256 its
/// follower computed) and the later ones, by part number.
pub fn index_of(
    header: &BundleHeader,
    first_number: u32,
    first_sha256: Sha256,
    later: &[ClosedPart],
) -> PartIndex {
    let mut parts: Vec<IndexedPart> = std::iter::once((first_number, first_sha256))
        .chain(later.iter().map(|p| (p.number, p.sha256)))
        .map(|(number, sha256)| IndexedPart {
            number,
            name: layout::part_file_name(&header.source, header.sequence, number),
            sha256,
        })
        .collect();
    parts.sort_by_key(|p| p.number);
    PartIndex {
        source: header.source.clone(),
        sequence: header.sequence,
        parts,
    }
}

/// Puts a snapshot in parts in place: every part under its name (`parts`:
/// each temp file with its part number), then the signature (`sig_tmp`, to be
/// named `sig`), then the part index. On a failure, what was put in place is
/// removed again.
pub fn publish(
    dir: &Path,
    index: &PartIndex,
    parts: Vec<(u32, NamedTempFile)>,
    sig_tmp: NamedTempFile,
    sig: &Path,
) -> io::Result<Published> {
    use std::os::unix::fs::PermissionsExt as _;
    let index_path = dir.join(layout::part_index_name(&index.source, index.sequence));
    let text = index.render();
    let mut index_tmp = locked_temp(dir, ".zip.tmp")?;
    index_tmp.write_all(&text)?;
    let mut files: Vec<(NamedTempFile, PathBuf)> = parts
        .into_iter()
        .map(|(number, tmp)| {
            let name = layout::part_file_name(&index.source, index.sequence, number);
            (tmp, dir.join(name))
        })
        .collect();
    let sizes: Vec<u64> = files
        .iter()
        .map(|(tmp, _)| tmp.as_file().metadata().map(|m| m.len()))
        .collect::<io::Result<_>>()?;
    files.push((sig_tmp, sig.to_path_buf()));
    files.push((index_tmp, index_path.clone()));
    let mut placed: Vec<PathBuf> = Vec::new();
    for (tmp, path) in files {
        let placed_one = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .and_then(|()| persist_new(tmp, &path));
        if let Err(e) = placed_one {
            for p in &placed {
                let _ = std::fs::remove_file(p);
            }
            return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
        }
        placed.push(path);
    }
    Ok(Published {
        digests: BundleDigests::of_bytes(&text),
        parts: placed
            .iter()
            .zip(&sizes)
            .map(|(p, &n)| (p.clone(), n))
            .collect(),
        index: index_path,
    })
}
