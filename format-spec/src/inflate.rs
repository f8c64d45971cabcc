//! Inflating the deflated members of a bundle file (SPEC.md §4.3, revision
//! 1.4): each raw DEFLATE stream must give exactly the size its header
//! declares and end exactly where the member's data ends; the CRC-32 is
//! computed over the inflated bytes as they come out.
//!
//! A bundle deflates at most three members (`manifest-sha256.txt`,
//! `data/entries.jsonl`, `data/review.csv`), and the verifier needs each of
//! them whole, so they are inflated side by side, one thread a member, up to
//! the machine's cores. A hostile file may repeat a member name (the caller
//! refuses it, `zip-name`, once every member is read): a repeat is inflated
//! and checked like the first, but its bytes are not kept, so that memory
//! holds at most one of each name whatever the file repeats.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One deflated member to inflate.
pub(crate) struct Job<'a> {
    /// Its compressed bytes.
    pub(crate) raw: &'a [u8],
    /// The uncompressed size its header declares (already checked against
    /// the limit).
    pub(crate) size: usize,
    /// Whether to keep its bytes: false for a name an earlier member has.
    pub(crate) keep: bool,
}

/// What inflating one member gave.
#[derive(Debug)]
pub(crate) struct Inflated {
    /// The inflated bytes; `None` when the job did not keep them.
    pub(crate) text: Option<Vec<u8>>,
    /// The CRC-32 of the inflated bytes.
    pub(crate) crc: u32,
}

/// Inflates every job, side by side, and returns each one's result in the
/// jobs' order. A failure is the sentence saying what is wrong with that
/// stream; the caller reports the first in member order.
pub(crate) fn inflate_all(jobs: &[Job<'_>]) -> Vec<Result<Inflated, String>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(jobs.len());
    if threads <= 1 {
        return jobs.iter().map(inflate_exact).collect();
    }
    // Largest first, so that the longest stream starts at once.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].size));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            done.push((i, inflate_exact(&jobs[i])));
        }
        done
    };
    let mut results: Vec<Option<Result<Inflated, String>>> = jobs.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mine = work();
        let theirs = helpers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        for (i, result) in mine.into_iter().chain(theirs) {
            results[i] = Some(result);
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("was not inflated".into())))
        .collect()
}

/// Inflates one raw DEFLATE stream (RFC 1951) that must end exactly at the
/// end of its bytes and give exactly the declared size. Memory grows with
/// what the stream really yields, never beyond the declared size + 1 bytes
/// whatever it claims, and stays at one step when the bytes are not kept.
fn inflate_exact(job: &Job<'_>) -> Result<Inflated, String> {
    const STEP: usize = 1 << 20;
    let (raw, size) = (job.raw, job.size);
    let mut out = Vec::new();
    let mut crc = crc32fast::Hasher::new();
    let mut total = 0usize;
    let mut inflater = flate2::Decompress::new(false);
    loop {
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        let before = (consumed, total);
        if !job.keep {
            out.clear();
        }
        let start = out.len();
        out.reserve((size + 1 - total).min(STEP));
        let status = inflater
            .decompress_vec(
                raw.get(consumed..).unwrap_or_default(),
                &mut out,
                flate2::FlushDecompress::None,
            )
            .map_err(|e| format!("not a valid DEFLATE stream ({e})"))?;
        let new: Range<usize> = start..out.len();
        total += new.len();
        if total > size {
            return Err(format!(
                "inflates to more than the {size} bytes it declares"
            ));
        }
        crc.update(&out[new]);
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
        if status == flate2::Status::StreamEnd {
            if consumed != raw.len() {
                return Err(format!(
                    "{} bytes follow the end of its DEFLATE stream",
                    raw.len() - consumed
                ));
            }
            if total != size {
                return Err(format!(
                    "inflates to {total} bytes, its header declares {size}"
                ));
            }
            return Ok(Inflated {
                text: job.keep.then_some(out),
                crc: crc.finalize(),
            });
        }
        if (consumed, total) == before {
            return Err("its DEFLATE stream ends before its final block".into());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn deflate(text: &[u8]) -> Vec<u8> {
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        d.write_all(text).unwrap();
        d.finish().unwrap()
    }

    #[test]
    fn members_inflated_side_by_side_come_back_in_their_order_with_their_crc() {
        let texts: Vec<Vec<u8>> = (0..5u8).map(|n| vec![b'a' + n; 3 << 20 >> n]).collect();
        let raws: Vec<Vec<u8>> = texts.iter().map(|t| deflate(t)).collect();
        let jobs: Vec<Job<'_>> = raws
            .iter()
            .zip(&texts)
            .map(|(raw, text)| Job {
                raw,
                size: text.len(),
                keep: true,
            })
            .collect();
        for (got, text) in inflate_all(&jobs).into_iter().zip(&texts) {
            let got = got.unwrap();
            assert_eq!(got.text.as_deref(), Some(&text[..]));
            assert_eq!(got.crc, crc32fast::hash(text));
        }
    }

    #[test]
    fn a_member_not_kept_is_checked_alike_and_its_crc_is_of_all_its_bytes() {
        let text = b"0123456789".repeat(500_000);
        let raw = deflate(&text);
        let job = |size, keep| Job {
            raw: &raw,
            size,
            keep,
        };
        let got = inflate_exact(&job(text.len(), false)).unwrap();
        assert_eq!(got.text, None);
        assert_eq!(got.crc, crc32fast::hash(&text));
        for keep in [true, false] {
            let e = inflate_exact(&job(text.len() - 1, keep)).unwrap_err();
            assert!(e.contains("more than"), "{e}");
            let e = inflate_exact(&job(text.len() + 1, keep)).unwrap_err();
            assert!(e.contains("its header declares"), "{e}");
        }
    }

    #[test]
    fn a_failing_stream_fails_alone_and_in_its_place() {
        let good = deflate(b"hello");
        let jobs = [
            Job {
                raw: &good,
                size: 5,
                keep: true,
            },
            Job {
                raw: b"\xff\xff\xff",
                size: 5,
                keep: true,
            },
            Job {
                raw: &good[..good.len() - 1],
                size: 5,
                keep: false,
            },
        ];
        let got = inflate_all(&jobs);
        assert_eq!(
            got[0].as_ref().unwrap().text.as_deref(),
            Some(&b"hello"[..])
        );
        assert!(got[1].as_ref().unwrap_err().contains("not a valid DEFLATE"));
        assert!(got[2].is_err(), "{:?}", got[2]);
    }
}
