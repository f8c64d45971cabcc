//! Snapshots in parts (SPEC.md §4.6): an export larger than `--part-size`
//! is written as part files and a signed part index, which verify as the
//! same snapshot a one-file export gives, with the CA material in part 0,
//! and which stock tools check.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::process::{Command, Output};

use certferry_format::model::Entry;
use certferry_format::VerifiedBundle;
use common::repo_root;
use common::work::{bin, ok_json, Work};
use serde_json::Value as Json;

fn export(w: &Work, files: &[&str], extra: &[&str]) -> Output {
    bin()
        .arg("ldif")
        .args(files.iter().map(|f| repo_root().join(f)))
        .args(w.output_args())
        .args(extra)
        .output()
        .unwrap()
}

const DUMP: &str = "fixtures/directory/ad-dump.ldif";
const PKI_DUMP: &str = "fixtures/directory/pki-ad-dump.ldif";

/// Every entry of a one-file bundle with its values' bytes.
fn entries_of(b: &VerifiedBundle) -> Vec<(Entry, Vec<Vec<u8>>)> {
    b.entries()
        .map(|e| {
            let values = e.values().map(|v| v.bytes().to_vec()).collect();
            (e.entry().clone(), values)
        })
        .collect()
}

/// The entries as a snapshot holds them wherever they lie: without the value
/// file names, which each part numbers from 1.
fn wherever(entries: &[(Entry, Vec<Vec<u8>>)]) -> Vec<(Entry, Vec<Vec<u8>>)> {
    entries
        .iter()
        .cloned()
        .map(|(mut e, values)| {
            e.values.iter_mut().for_each(|v| v.file = None);
            (e, values)
        })
        .collect()
}

fn assert_same_entries(parts: &[(Entry, Vec<Vec<u8>>)], whole: &[(Entry, Vec<Vec<u8>>)]) {
    assert_eq!(parts.len(), whole.len());
    for (i, (a, b)) in wherever(parts).iter().zip(wherever(whole)).enumerate() {
        assert!(*a == b, "entry {}: {} differs", i + 1, b.0.label());
    }
}

fn part_files(summary: &Json) -> Vec<(String, u64)> {
    summary["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_owned(),
                p["bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_snapshot_over_the_part_size_is_written_in_parts_that_verify_as_the_same_snapshot() {
    let (one, split) = (Work::new(), Work::new());
    let whole = one.verify(&ok_json(&export(&one, &[DUMP], &["--contacts"])));
    let summary = ok_json(&export(
        &split,
        &[DUMP],
        &["--contacts", "--part-size", "16K"],
    ));
    let parts = split.verify_parts(&summary);

    assert!(parts.parts().len() >= 3, "{:?}", parts.parts());
    let numbers: Vec<u32> = parts.parts().iter().map(|p| p.number).collect();
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
    assert_same_entries(parts.kept(), &entries_of(&whole));
    assert_eq!(parts.header().counts, whole.header().counts);
    assert_eq!(parts.header().part, None);
    // The largest value of the dump is a few KiB: no part passes the size by more.
    for (file, bytes) in part_files(&summary) {
        assert!(bytes < 16 * 1024 + 8 * 1024, "{file}: {bytes} bytes");
    }
    // In place: the parts, the index and its signature; no temp file.
    let mut want: Vec<String> = parts.parts().iter().map(|p| p.name.clone()).collect();
    want.push("certferry-contoso-ad-0000000001.sha256".into());
    want.push(format!(
        "certferry-contoso-ad-0000000001.sha256.exporter.{}.minisig",
        summary["signature"]
            .as_str()
            .unwrap()
            .rsplit('.')
            .nth(1)
            .unwrap()
    ));
    want.sort();
    assert_eq!(split.files(), want);
}

#[test]
fn the_ca_material_of_a_snapshot_in_parts_is_part_0() {
    let (one, split) = (Work::new(), Work::new());
    let whole = one.verify(&ok_json(&export(&one, &[DUMP, PKI_DUMP], &["--pki"])));
    let summary = ok_json(&export(
        &split,
        &[DUMP, PKI_DUMP],
        &["--pki", "--part-size", "16K"],
    ));
    let parts = split.verify_parts(&summary);
    assert_eq!(parts.parts()[0].number, 0);
    assert_eq!(parts.parts()[0].counts.entries, 0);
    assert!(parts.carries_pki());
    let carried = |pki: Vec<certferry_format::VerifiedPki<'_>>| -> Vec<(String, Vec<u8>)> {
        pki.iter()
            .map(|p| (p.record().location.clone(), p.bytes().to_vec()))
            .collect()
    };
    assert_eq!(
        carried(parts.pki().collect()),
        carried(whole.pki().collect())
    );
    assert_same_entries(parts.kept(), &entries_of(&whole));
}

#[test]
fn a_snapshot_within_the_part_size_is_one_bundle_file_and_the_next_chains_the_index() {
    let w = Work::new();
    let first = ok_json(&export(&w, &[DUMP], &["--part-size", "16K"]));
    assert!(first["bundle"].as_str().unwrap().ends_with(".sha256"));
    let second = ok_json(&export(&w, &[DUMP], &[]));
    assert!(part_files(&second).is_empty());
    assert!(second["bundle"]
        .as_str()
        .unwrap()
        .ends_with("0000000002.zip"));
    let b = w.verify(&second);
    // The previous snapshot's identity is its part index's SHA-256.
    assert_eq!(
        b.header().previous_sha256.map(|h| h.to_hex()).as_deref(),
        first["sha256"].as_str()
    );
    let index = std::fs::read(first["bundle"].as_str().unwrap()).unwrap();
    assert_eq!(
        first["sha256"].as_str().unwrap(),
        certferry_format::Sha256::digest(&index).to_hex()
    );
}

#[test]
fn stock_tools_check_a_snapshot_in_parts() {
    let w = Work::new();
    let summary = ok_json(&export(&w, &[DUMP], &["--part-size", "16K"]));
    let index = summary["bundle"].as_str().unwrap();
    let sig = summary["signature"].as_str().unwrap();
    let out = Command::new("minisign")
        .args(["-V", "-p"])
        .arg(w.path("exp.pub"))
        .args(["-m", index, "-x", sig])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "minisign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("sha256sum")
        .args(["--strict", "-c"])
        .arg(index)
        .current_dir(w.out())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        checked.lines().filter(|l| l.ends_with(": OK")).count(),
        part_files(&summary).len()
    );
}

#[test]
fn a_part_size_out_of_range_is_a_usage_error() {
    for bad in ["1K", "2G", "12X", "M"] {
        let w = Work::new();
        let out = export(&w, &[DUMP], &["--part-size", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(w.files().is_empty(), "{bad}: {:?}", w.files());
    }
}
