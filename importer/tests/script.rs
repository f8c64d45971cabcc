//! `script`: the PowerShell script's structure, and every certificate in it
//! decodes to exactly the verified value bytes; refused ones are absent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;

use base64::Engine as _;
use certferry_format::model::{Attribute, ObjectKind};
use common::*;

/// Per entry block: (header line, {parameter: [decoded values]}, the command lines).
type Block = (String, BTreeMap<String, Vec<Vec<u8>>>, Vec<String>);

fn parse_blocks(script: &str) -> Vec<Block> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut blocks: Vec<Block> = Vec::new();
    let mut current_param: Option<String> = None;
    for line in script.lines() {
        if line.starts_with("# ---- entry ") {
            blocks.push((line.to_owned(), BTreeMap::new(), Vec::new()));
            continue;
        }
        let Some((_, params, cmds)) = blocks.last_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("$certificates['") {
            let name = rest.split('\'').next().unwrap().to_owned();
            assert!(rest.ends_with("] = @("), "{line}");
            params.insert(name.clone(), Vec::new());
            current_param = Some(name);
        } else if line == ")" {
            current_param = None;
        } else if let Some(p) = &current_param {
            let t = line.trim();
            if t.starts_with('#') {
                continue;
            }
            let data = t
                .strip_prefix(",[byte[]][Convert]::FromBase64String('")
                .and_then(|r| r.strip_suffix("')"))
                .unwrap_or_else(|| panic!("unexpected line in an array: {line}"));
            params
                .get_mut(p)
                .unwrap()
                .push(b64.decode(data).expect("valid base64"));
        } else if !line.trim_start().starts_with('#') && !line.trim().is_empty() {
            cmds.push(line.trim().to_owned());
        }
    }
    blocks
}

#[test]
fn script_holds_exactly_the_accepted_certificates() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let partner = Person {
        who: "partner".into(),
        kind: ObjectKind::Contact,
        guid: None,
        mail: "partner@fabrikam.test".into(),
        values: vec![(Attribute::UserCertificate, pki("certs/partner.der"))],
    };
    let b = write_signed(
        d.path(),
        &Spec::new(
            1,
            vec![
                user_cert("alice", "alice"),
                user(
                    "carol",
                    vec![
                        (Attribute::UserCertificate, pki("certs/carol-1.der")),
                        (Attribute::UserCertificate, pki("certs/grace.der")),
                        (Attribute::UserCertificate, pki("certs/carol-2.der")),
                    ],
                ),
                user(
                    "ivan",
                    vec![
                        (Attribute::UserCertificate, pki("certs/ivan.der")),
                        (Attribute::UserSmimeCertificate, pki("smime/ivan.p7s")),
                    ],
                ),
                user_cert("grace", "grace"),
                partner,
            ],
        ),
    );
    let out_path = d.path().join("publish.ps1");
    let out = run(&[
        "script",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--create-contacts",
        "--out",
        s(&out_path),
        s(&b),
    ]);
    assert_eq!(out.code, 1, "grace's certificates are refused: {out:?}");
    if let Some(keep) = std::env::var_os("CERTFERRY_KEEP_SCRIPT") {
        std::fs::copy(&out_path, keep).unwrap(); // for looking at a sample script
    }
    let bytes = std::fs::read(&out_path).unwrap();
    assert_eq!(
        &bytes[..3],
        b"\xEF\xBB\xBF",
        "UTF-8 with BOM for Windows PowerShell"
    );
    let script = String::from_utf8(bytes[3..].to_vec()).unwrap();

    // Header: #Requires first, then param() as the first statement, then Stop, then Connect.
    let statements: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        script.lines().next(),
        Some("#Requires -Modules ExchangeOnlineManagement")
    );
    let after_help = script.split("#>").nth(1).unwrap();
    let first_statement = after_help
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(first_statement, "param([switch]$WhatIf)");
    let pos = |s: &str| {
        statements
            .iter()
            .position(|l| l.starts_with(s))
            .unwrap_or_else(|| panic!("{s} missing"))
    };
    assert!(pos("$ErrorActionPreference = 'Stop'") < pos("Connect-ExchangeOnline"));
    assert!(pos("Connect-ExchangeOnline") < pos("function Set-CertferryUserCertificates"));
    assert!(script.contains("Get-Recipient -Identity $Identity"));

    let blocks = parse_blocks(&script);
    assert_eq!(blocks.len(), 5);
    let get = |who: &str| {
        blocks
            .iter()
            .find(|b| b.0.contains(who))
            .unwrap_or_else(|| panic!("{who} block"))
    };

    let alice = get("alice@contoso.test");
    assert_eq!(alice.1.len(), 1);
    assert_eq!(alice.1["UserCertificate"], vec![pki("certs/alice.der")]);
    assert!(alice.2.iter().any(|c| c == "Set-CertferryUserCertificates -Identity 'alice@contoso.test' -Certificates $certificates"), "{:?}", alice.2);

    let carol = get("carol@contoso.test");
    assert_eq!(
        carol.1["UserCertificate"],
        vec![pki("certs/carol-1.der"), pki("certs/carol-2.der")],
        "grace's rogue certificate is left out"
    );

    let ivan = get("ivan@contoso.test");
    assert_eq!(ivan.1["UserCertificate"], vec![pki("certs/ivan.der")]);
    assert_eq!(ivan.1["UserSMimeCertificate"], vec![pki("smime/ivan.p7s")]);

    let grace = get("grace@contoso.test");
    assert!(grace.1.is_empty());
    assert!(
        grace.2.is_empty(),
        "nothing is run for grace: {:?}",
        grace.2
    );

    let partner = get("partner@fabrikam.test");
    assert_eq!(partner.1["UserCertificate"], vec![pki("certs/partner.der")]);
    assert!(partner.2.iter().any(|c| c.starts_with("New-MailContact -Name 'Test partner' -ExternalEmailAddress 'partner@fabrikam.test' -WhatIf:$WhatIf")), "{:?}", partner.2);
    assert!(partner.2.iter().any(|c| c.starts_with(
        "Set-MailContact -Identity 'partner@fabrikam.test' @certificates -WhatIf:$WhatIf"
    )));

    // The refused certificate's bytes appear nowhere.
    let b64 = base64::engine::general_purpose::STANDARD;
    assert!(!script.contains(&b64.encode(pki("certs/grace.der"))));
    // Every Set-/New- cmdlet honours -WhatIf.
    for l in script
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Set-M") || l.starts_with("New-M") || l.contains("{ Set-M"))
    {
        assert!(l.contains("-WhatIf:$WhatIf"), "{l}");
    }
    // Comments name each certificate's thumbprint and expiry.
    let alice_cert = certferry_format::cert::decode_value(&pki("certs/alice.der"));
    let thumb = alice_cert.certificates[0].sha1_hex().to_ascii_uppercase();
    assert!(
        script.contains(&format!(
            "#   SHA-1 thumbprint {thumb}, expires 2045-12-31T23:59:59Z"
        )),
        "{script}"
    );
}

#[test]
fn without_create_contacts_only_existing_contacts_are_set() {
    let d = tempfile::tempdir().unwrap();
    let policy = write_policy(d.path(), &PolicyOpts::default());
    let partner = Person {
        who: "partner".into(),
        kind: ObjectKind::Contact,
        guid: None,
        mail: "partner@fabrikam.test".into(),
        values: vec![(Attribute::UserCertificate, pki("certs/partner.der"))],
    };
    let b = write_signed(d.path(), &Spec::new(1, vec![partner]));
    let out_path = d.path().join("publish.ps1");
    let out = run(&[
        "script",
        "--policy",
        s(&policy),
        "--now",
        NOW,
        "--out",
        s(&out_path),
        s(&b),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let script = std::fs::read_to_string(&out_path).unwrap();
    assert!(!script.contains("New-MailContact"));
    assert!(script.contains("Set-MailContact -Identity 'partner@fabrikam.test' @certificates -WhatIf:$WhatIf -ErrorAction Stop"));
}

#[test]
fn opaque_values_are_published_only_when_the_policy_allows_them() {
    let d = tempfile::tempdir().unwrap();
    let trudy = || {
        user(
            "trudy",
            vec![(
                Attribute::UserSmimeCertificate,
                pki("smime/trudy-garbage.bin"),
            )],
        )
    };
    let b = write_signed(d.path(), &Spec::new(1, vec![trudy()]));
    let out_path = d.path().join("publish.ps1");

    let strict = write_policy(d.path(), &PolicyOpts::default());
    let out = run(&[
        "script",
        "--policy",
        s(&strict),
        "--now",
        NOW,
        "--out",
        s(&out_path),
        s(&b),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let script = std::fs::read_to_string(&out_path).unwrap();
    assert!(parse_blocks(&script)[0].1.is_empty());
    assert!(
        script.contains("# NOT published (unparseable): userSMIMECertificate"),
        "{script}"
    );

    let lax = write_policy(
        d.path(),
        &PolicyOpts {
            certificates_extra: "reject_unparseable = false\n".into(),
            ..PolicyOpts::default()
        },
    );
    let out = run(&[
        "script",
        "--policy",
        s(&lax),
        "--now",
        NOW,
        "--out",
        s(&out_path),
        s(&b),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let script = std::fs::read_to_string(&out_path).unwrap();
    let blocks = parse_blocks(&script);
    assert_eq!(
        blocks[0].1["UserSMimeCertificate"],
        vec![pki("smime/trudy-garbage.bin")]
    );
    assert!(
        script.contains("# opaque value (no certificate), SHA-256 "),
        "{script}"
    );
}
