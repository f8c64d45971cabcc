//! The hostile fixture directory (fixtures/directory/hostile-*.ldif, made by
//! fixtures/directory/generate) in its three dialects: `ldapsearch -LLL`,
//! `ldifde -f` and `ldifde -u` (UTF-16LE). The three give identical entries;
//! no private key reaches the bundle, the output folder or the terminal; each
//! object holding one is named on stderr; every other hostile value is
//! recorded as hostile.json says.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use base64::Engine as _;
use common::repo_root;
use common::work::Work;
use serde_json::Value as Json;

const DIALECTS: [&str; 3] = [
    "hostile-ldapsearch.ldif",
    "hostile-ldifde.ldif",
    "hostile-ldifde-u.ldif",
];

fn expected() -> Json {
    let text =
        std::fs::read_to_string(repo_root().join("fixtures/directory/hostile.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Exports one dialect into a fresh workspace: (work, exit code, stdout JSON, stderr).
fn export(dialect: &str) -> (Work, i32, Json, String) {
    let w = Work::new();
    let out = w.export_ldif_file(&repo_root().join("fixtures/directory").join(dialect), &[]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Json::Null);
    (
        w,
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Windows of `bytes` that must not appear anywhere the exporter wrote: the
/// raw bytes, and their base64 (how they would look re-encoded).
fn needles(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mid = bytes.len() / 2;
    let raw = bytes[mid.saturating_sub(24)..(mid + 24).min(bytes.len())].to_vec();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let m = b64.len() / 2;
    vec![raw, b64.as_bytes()[m - 24..m + 24].to_vec()]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn every_file_under(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(every_file_under(&p));
        } else {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn the_three_ldif_dialects_give_identical_entries() {
    let mut seen: Option<(Vec<Json>, Vec<u8>)> = None;
    for d in DIALECTS {
        let (w, code, json, err) = export(d);
        assert_eq!(code, 1, "{d}: {err}");
        let b = w.verify(&json);
        let entries: Vec<Json> = b
            .entries()
            .map(|e| {
                let mut v = serde_json::to_value(e.entry()).unwrap();
                v["value_bytes"] = e.values().map(|x| hex(x.bytes())).collect();
                v
            })
            .collect();
        assert_eq!(
            entries.len(),
            expected()["entries"].as_array().unwrap().len(),
            "{d}"
        );
        let review = b.review_csv().to_vec();
        match &seen {
            None => seen = Some((entries, review)),
            Some((e0, r0)) => {
                assert_eq!(&entries, e0, "{d}: entries differ from {}", DIALECTS[0]);
                assert_eq!(&review, r0, "{d}: review.csv differs from {}", DIALECTS[0]);
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn no_private_key_crosses_and_each_owner_is_named() {
    let exp = expected();
    let keys: Vec<&Json> = exp["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["expect"] == "withheld-private-key")
        .collect();
    assert_eq!(keys.len(), 11);
    for d in DIALECTS {
        let (w, code, json, err) = export(d);
        assert_eq!(code, 1, "{d}: {err}");
        // Loud, one line per object, on stderr.
        assert!(
            err.contains("SECURITY   11 private key(s) found"),
            "{d}: {err}"
        );
        for k in &keys {
            let who = format!("{}@contoso.test", k["key"].as_str().unwrap());
            assert!(
                err.lines()
                    .any(|l| l.starts_with("SECURITY") && l.contains(&who)),
                "{d}: {who} not named: {err}"
            );
        }
        assert_eq!(
            json["summary"]["private_keys"].as_array().unwrap().len(),
            11
        );
        // Not in the bundle, the signature, the state, stdout or stderr.
        let mut written = every_file_under(w.dir.path());
        written.push(serde_json::to_vec(&json).unwrap());
        written.push(err.clone().into_bytes());
        for k in &keys {
            let file = k["file"].as_str().unwrap();
            let bytes = std::fs::read(repo_root().join(file)).unwrap();
            for n in needles(&bytes) {
                for (i, f) in written.iter().enumerate() {
                    // The LDIF input is not ours to police; only what the exporter wrote.
                    assert!(!contains(f, &n), "{d}: bytes of {file} found in output {i}");
                }
            }
        }
        // The review table names each withheld value.
        let b = w.verify(&json);
        let review = String::from_utf8(b.review_csv().to_vec()).unwrap();
        assert_eq!(
            review.matches("withheld-private-key").count(),
            11 * 2,
            "{review}"
        );
    }
}

#[test]
fn every_hostile_value_is_recorded_as_hostile_json_says() {
    let (w, _, json, _) = export(DIALECTS[0]);
    let b = w.verify(&json);
    let exp = expected();
    let by_dn: std::collections::BTreeMap<String, certferry_format::model::Entry> = b
        .entries()
        .map(|e| (e.entry().dn.clone(), e.entry().clone()))
        .collect();
    for x in exp["entries"].as_array().unwrap() {
        let dn = x["dn"].as_str().unwrap();
        let e = by_dn.get(dn).unwrap_or_else(|| panic!("{dn} missing"));
        let v = &e.values[0];
        let expect = x["expect"].as_str().unwrap();
        let first = v.certificates.first();
        let reasons: Vec<&str> = first
            .map(|c| c.reasons.iter().map(String::as_str).collect())
            .unwrap_or_default();
        match expect {
            "withheld-private-key" => {
                let h = v
                    .withheld
                    .as_ref()
                    .unwrap_or_else(|| panic!("{dn}: not withheld"));
                assert_eq!(v.container, "withheld-private-key", "{dn}");
                assert_eq!(v.file, None, "{dn}");
                assert_eq!(h.length, x["length"].as_u64().unwrap(), "{dn}");
                assert_eq!(h.sha256.to_hex(), x["sha256"].as_str().unwrap(), "{dn}");
            }
            "pkcs7-without-certificates" => {
                assert_eq!(v.container, "pkcs7", "{dn}");
                assert!(v.certificates.is_empty(), "{dn}");
            }
            "-2a" | "80" => assert_eq!(first.unwrap().serial, expect, "{dn}"),
            "twenty-octets" => assert_eq!(first.unwrap().serial.len(), 40, "{dn}"),
            "rsa-1024" => assert_eq!(first.unwrap().key_bits, 1024, "{dn}"),
            "non-ASCII name" => {
                assert_eq!(e.display_name.as_deref(), Some("Zoë Ünal-Øster"), "{dn}")
            }
            "usable" => assert_ne!(first.unwrap().class, "unusable", "{dn}"),
            reason => assert!(
                reasons.contains(&reason),
                "{dn}: {reasons:?} lacks {reason}"
            ),
        }
    }
}
