//! `trust-store`: the SST of the CA certificates the accepted certificates
//! chain to, read back with a reader written from the published layout
//! (MS-OSHARED 2.3.9.1 and 2.3.2.5), not from the writer's code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;

use certferry_format::model::Attribute;
use common::*;
use serde_json::Value as Json;

/// Reads an SST as the layout says: `version` u32 = 0 and `fileType` "CERT";
/// then elements `id` u32, `encodingType` u32 (must be 1), `length` u32, the
/// value; id 0x20 is a certificate, ids up to 0xFFFF are properties (skipped);
/// the end is id 0 followed by a u64 0, and nothing after it. Returns the
/// certificates in order, or what is wrong.
fn read_sst(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let u32_at = |at: usize| -> Result<u32, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("truncated at byte {at}"))
    };
    if u32_at(0)? != 0 || bytes.get(4..8) != Some(b"CERT".as_slice()) {
        return Err("not an SST header (version 0, \"CERT\")".into());
    }
    let mut at = 8;
    let mut certificates = Vec::new();
    loop {
        let id = u32_at(at)?;
        if id == 0 {
            let marker = bytes.get(at + 4..at + 12).ok_or("truncated end marker")?;
            if marker.iter().any(|&b| b != 0) {
                return Err("end marker is not zero".into());
            }
            if at + 12 != bytes.len() {
                return Err(format!(
                    "{} bytes after the end marker",
                    bytes.len() - at - 12
                ));
            }
            return Ok(certificates);
        }
        if id > 0xFFFF {
            return Err(format!("element id {id:#x} out of range"));
        }
        if u32_at(at + 4)? != 1 {
            return Err(format!("element at {at}: encodingType is not 1"));
        }
        let len = u32_at(at + 8)? as usize;
        let value = bytes
            .get(at + 12..at + 12 + len)
            .ok_or_else(|| format!("element at {at}: value truncated"))?;
        if id == 0x20 {
            certificates.push(value.to_vec());
        }
        at += 12 + len;
    }
}

/// `trust-store --json` of a bundle holding `people`, under a policy pinning
/// `trusted_ca` with `intermediates` (files under `fixtures/pki`).
fn trust_store(
    dir: &Path,
    people: Vec<Person>,
    trusted_ca: &'static str,
    intermediates: &[&str],
) -> (Out, Json) {
    let policy = write_policy(
        dir,
        &PolicyOpts {
            trusted_ca,
            certificates_extra: intermediate_ca_line(intermediates),
            ..PolicyOpts::default()
        },
    );
    let bundle = write_signed(dir, &Spec::new(1, people));
    let out = run(&[
        "trust-store",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--json",
        "--out",
        s(&dir.join("store.sst")),
        s(&bundle),
    ]);
    let json = serde_json::from_str(&out.stdout).unwrap_or(Json::Null);
    (out, json)
}

fn one(who: &str, file: &str) -> Person {
    user(who, vec![(Attribute::UserCertificate, pki(file))])
}

#[test]
fn the_store_holds_the_pinned_root_and_the_intermediate_in_that_order() {
    let d = tempfile::tempdir().unwrap();
    let (out, j) = trust_store(
        d.path(),
        vec![
            one("alice", "certs/alice.der"),
            one("heidi", "certs/heidi.der"),
        ],
        "ca/root-ca.pem",
        &["ca/issuing-ca.pem"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let certs = read_sst(&std::fs::read(d.path().join("store.sst")).unwrap()).unwrap();
    assert_eq!(certs, vec![pki("ca/root-ca.der"), pki("ca/issuing-ca.der")]);
    assert_eq!(j["store"]["values"], 2);
    assert_eq!(j["store"]["certificates"][0]["role"], "pinned");
    assert_eq!(j["store"]["certificates"][1]["used_by"], 2);
}

#[test]
fn a_pinned_issuing_ca_is_the_whole_store() {
    let d = tempfile::tempdir().unwrap();
    let (out, _) = trust_store(
        d.path(),
        vec![one("alice", "certs/alice.der")],
        "ca/issuing-ca.pem",
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let certs = read_sst(&std::fs::read(d.path().join("store.sst")).unwrap()).unwrap();
    assert_eq!(certs, vec![pki("ca/issuing-ca.der")]);
}

#[test]
fn nothing_accepted_writes_nothing() {
    // Grace's certificate is from a CA nobody pinned: an empty store would
    // replace the tenant's collection with nothing.
    let d = tempfile::tempdir().unwrap();
    let (out, _) = trust_store(
        d.path(),
        vec![one("grace", "certs/grace.der")],
        "ca/issuing-ca.pem",
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("nothing written"), "{out:?}");
    assert!(!d.path().join("store.sst").exists());
}

#[test]
fn an_expired_pinned_ca_is_left_out_and_named() {
    // Pinned CAs are trusted as given, so ursula's certificate is accepted
    // under the expired CA; the store must not carry it (the upload fails on
    // an expired certificate), and with nothing else to carry, nothing is written.
    let d = tempfile::tempdir().unwrap();
    let (out, _) = trust_store(
        d.path(),
        vec![one("ursula", "chain/ursula.der")],
        "chain/expired-issuing-ca.pem",
        &[],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("1 left out as expired"), "{out:?}");
    assert!(!d.path().join("store.sst").exists());
}

#[test]
fn the_reader_refuses_what_the_layout_does_not_allow() {
    let good = {
        let mut v = vec![0, 0, 0, 0, b'C', b'E', b'R', b'T'];
        v.extend_from_slice(&[0x20, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0x30, 0x00]);
        v.extend_from_slice(&[0; 12]);
        v
    };
    assert_eq!(read_sst(&good).unwrap(), vec![vec![0x30, 0x00]]);
    assert!(read_sst(&good[..good.len() - 1]).is_err(), "truncated");
    assert!(
        read_sst(&[good.as_slice(), &[0]].concat()).is_err(),
        "trailing byte"
    );
    let mut bad = good.clone();
    bad[12] = 2; // encodingType 2
    assert!(read_sst(&bad).is_err());
}

#[test]
fn the_bundles_intermediate_goes_into_the_store_when_only_the_root_is_pinned() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(
        d.path(),
        &PolicyOpts {
            trusted_ca: "ca/root-ca.pem",
            ..PolicyOpts::default()
        },
    );
    let mut spec = Spec::new(1, vec![one("alice", "certs/alice.der")]);
    spec.pki = Some(vec![ca_file("ca/issuing-ca.der")]);
    let bundle = write_signed(d.path(), &spec);
    let sst = d.path().join("store.sst");
    let out = run(&[
        "trust-store",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--out",
        s(&sst),
        s(&bundle),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let certs = read_sst(&std::fs::read(&sst).unwrap()).unwrap();
    assert_eq!(certs, vec![pki("ca/root-ca.der"), pki("ca/issuing-ca.der")]);
}

mod upload {
    use super::*;
    use exo_simulator::{Dialect, IssuingCaOut, SimConfig, SimHandle, Simulator, Tenant};

    struct Lab {
        dir: tempfile::TempDir,
        sim: SimHandle,
        policy: std::path::PathBuf,
        tenant: String,
        bundle: std::path::PathBuf,
    }

    fn lab(out: IssuingCaOut) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::start(
            Tenant::load(root().join("fixtures/tenant/contoso.json")).unwrap(),
            SimConfig {
                dialect: Dialect {
                    issuing_ca_out: out,
                    ..Dialect::default()
                },
                ..SimConfig::default()
            },
        )
        .unwrap();
        let tenant = write_tenant(dir.path(), &sim, "");
        let policy = write_policy(
            dir.path(),
            &PolicyOpts {
                trusted_ca: "ca/root-ca.pem",
                certificates_extra: intermediate_ca_line(&["ca/issuing-ca.pem"]),
                ..PolicyOpts::default()
            },
        );
        let bundle = write_signed(
            dir.path(),
            &Spec::new(1, vec![one("alice", "certs/alice.der")]),
        );
        Lab {
            dir,
            sim,
            policy,
            tenant,
            bundle,
        }
    }

    impl Lab {
        fn run(&self, extra: &[&str]) -> (Out, Json) {
            let mut args = vec![
                "trust-store",
                "--policy",
                s(&self.policy),
                "--tenant",
                &self.tenant,
                "--now",
                NOW,
                "--json",
                "--apply",
            ];
            args.extend_from_slice(extra);
            args.push(s(&self.bundle));
            let out = run(&args);
            let json = serde_json::from_str(&out.stdout).unwrap_or(Json::Null);
            (out, json)
        }

        fn tenant_collection(&self) -> Option<Vec<Vec<u8>>> {
            self.sim.smime_issuing_ca().map(|b| read_sst(&b).unwrap())
        }
    }

    fn store_of(certs: &[&str]) -> Vec<u8> {
        let mut out = vec![0, 0, 0, 0, b'C', b'E', b'R', b'T'];
        for c in certs {
            let der = pki(c);
            out.extend_from_slice(&0x20u32.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&(der.len() as u32).to_le_bytes());
            out.extend_from_slice(&der);
        }
        out.extend_from_slice(&[0; 12]);
        out
    }

    #[test]
    fn an_empty_tenant_gets_the_store_and_it_is_read_back_in_every_form_the_service_may_answer() {
        for form in [
            IssuingCaOut::Base64,
            IssuingCaOut::DataBase64,
            IssuingCaOut::Integers,
        ] {
            let lab = lab(form);
            let (out, j) = lab.run(&[]);
            assert_eq!(out.code, 0, "{form:?}: {out:?}");
            assert_eq!(
                lab.tenant_collection().unwrap(),
                vec![pki("ca/root-ca.der"), pki("ca/issuing-ca.der")],
                "{form:?}"
            );
            assert!(
                j["upload"]["read_back"]
                    .as_str()
                    .unwrap()
                    .starts_with("read back: the tenant holds exactly this store"),
                "{form:?}: {j}"
            );
            assert_eq!(j["upload"]["changes"]["added"].as_array().unwrap().len(), 2);
            // The upload is evidence: audited before it was sent and after.
            let audit =
                std::fs::read_to_string(lab.dir.path().join("state.sqlite.audit.jsonl")).unwrap();
            let outcomes: Vec<String> = audit
                .lines()
                .map(|l| serde_json::from_str::<Json>(l).unwrap())
                .filter(|l| l["action"] == "set-smime-issuing-ca")
                .map(|l| l["outcome"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(outcomes, ["sending", "uploaded"], "{audit}");
            // Again: nothing to change, nothing sent.
            let writes = lab
                .sim
                .write_counts()
                .get("SmimeConfig")
                .copied()
                .unwrap_or(0);
            let (out, j) = lab.run(&[]);
            assert_eq!(out.code, 0, "{out:?}");
            assert_eq!(j["upload"]["changes"]["unchanged"], true, "{j}");
            assert_eq!(
                lab.sim
                    .write_counts()
                    .get("SmimeConfig")
                    .copied()
                    .unwrap_or(0),
                writes,
                "{form:?}: uploaded again"
            );
        }
    }

    #[test]
    fn the_tenants_other_valid_cas_are_kept_and_expired_ones_dropped_unless_replace() {
        let lab = lab(IssuingCaOut::Base64);
        lab.sim.set_smime_issuing_ca(Some(store_of(&[
            "ca/rogue-ca.der",
            "chain/expired-issuing-ca.der",
        ])));
        let (out, j) = lab.run(&[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            lab.tenant_collection().unwrap(),
            vec![
                pki("ca/root-ca.der"),
                pki("ca/issuing-ca.der"),
                pki("ca/rogue-ca.der")
            ]
        );
        let removed = &j["upload"]["changes"]["removed"];
        assert_eq!(removed.as_array().unwrap().len(), 1, "{j}");
        assert!(
            removed[0][1].as_str().unwrap().starts_with("expired"),
            "{j}"
        );
        // --replace uploads exactly the store.
        let (out, _) = lab.run(&["--replace"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            lab.tenant_collection().unwrap(),
            vec![pki("ca/root-ca.der"), pki("ca/issuing-ca.der")]
        );
    }

    #[test]
    fn a_collection_the_service_does_not_show_is_never_replaced_without_replace() {
        let lab = lab(IssuingCaOut::Absent);
        lab.sim
            .set_smime_issuing_ca(Some(store_of(&["ca/rogue-ca.der"])));
        let (out, _) = lab.run(&[]);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("--replace"), "{out:?}");
        assert_eq!(
            lab.tenant_collection().unwrap(),
            vec![pki("ca/rogue-ca.der")],
            "nothing uploaded"
        );
        let (out, j) = lab.run(&["--replace"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            j["upload"]["read_back"]
                .as_str()
                .unwrap()
                .starts_with("not confirmed"),
            "{j}"
        );
        assert_eq!(
            lab.tenant_collection().unwrap(),
            vec![pki("ca/root-ca.der"), pki("ca/issuing-ca.der")]
        );
    }

    #[test]
    fn the_script_form_shows_the_current_collection_then_uploads_the_embedded_store() {
        let lab = lab(IssuingCaOut::Base64);
        let script = lab.dir.path().join("trust.ps1");
        let sst = lab.dir.path().join("store.sst");
        let out = run(&[
            "trust-store",
            "--policy",
            s(&lab.policy),
            "--now",
            NOW,
            "--out",
            s(&sst),
            "--script",
            s(&script),
            s(&lab.bundle),
        ]);
        assert_eq!(out.code, 0, "{out:?}");
        let text = std::fs::read_to_string(&script).unwrap();
        let get = text.find("Get-SmimeConfig").unwrap();
        let set = text
            .find("Set-SmimeConfig -SMIMECertificateIssuingCA $store")
            .unwrap();
        assert!(get < set, "{text}");
        use base64::Engine as _;
        let embedded: String = text
            .split("FromBase64String(@'\n")
            .nth(1)
            .unwrap()
            .split("\n'@")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(embedded)
            .unwrap();
        assert_eq!(bytes, std::fs::read(&sst).unwrap());
        assert!(
            lab.sim.smime_issuing_ca().is_none(),
            "the script form sends nothing"
        );
    }
}
