//! The tenant fixture agrees with the directory fixture; loading refuses broken fixtures.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use exo_simulator::{RecipientKind, Tenant};
use serde_json::Value;

#[test]
fn tenant_matches_the_directory_fixture() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(
            exo_simulator::tenant::fixture_dir().join("../directory/expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let tenant = contoso();
    for e in expected["entries"].as_array().unwrap() {
        let key = e["key"].as_str().unwrap();
        let found = tenant.recipients.iter().find(|r| r.name == key);
        match (key, e["kind"].as_str().unwrap()) {
            ("judy", _) | (_, "computer") => {
                assert!(found.is_none(), "{key} must have no recipient")
            }
            (_, kind) => {
                let r = found.unwrap_or_else(|| panic!("{key} has no recipient"));
                let proxies: Vec<&str> = e["proxyAddresses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(r.email_addresses, proxies, "{key}");
                assert_eq!(
                    r.primary_smtp_address(),
                    e["mail"].as_str().unwrap(),
                    "{key}"
                );
                assert_eq!(r.display_name, e["displayName"].as_str().unwrap(), "{key}");
                let want = match (kind, key) {
                    ("contact", _) => RecipientKind::MailContact,
                    (_, "frank") => RecipientKind::MailUser,
                    _ => RecipientKind::UserMailbox,
                };
                assert_eq!(r.kind, want, "{key}");
                assert_eq!(r.is_dir_synced, key == "trudy" || key == "walter", "{key}");
            }
        }
    }
    // Exactly one recipient holds a certificate before any import: alice, a foreign one.
    let with_certs: Vec<&str> = tenant
        .recipients
        .iter()
        .filter(|r| !r.user_certificate.is_empty() || !r.user_smime_certificate.is_empty())
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(with_certs, ["alice"]);
    // The ambiguous address.
    let holders = tenant
        .recipients
        .iter()
        .filter(|r| r.smtp_addresses().any(|a| a == "carol@contoso.test"))
        .count();
    assert_eq!(holders, 2);
}

fn load_str(name: &str, json: &str) -> Result<Tenant, exo_simulator::tenant::LoadError> {
    let dir = std::env::temp_dir().join(format!("exo-sim-fixture-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        exo_simulator::tenant::fixture_dir().join("app.pem"),
        dir.join("app.pem"),
    )
    .unwrap();
    let path = dir.join("t.json");
    std::fs::write(&path, json).unwrap();
    let r = Tenant::load(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    r
}

fn fixture_with(recipient: &str) -> String {
    format!(
        r#"{{"tenant_id": "6f1c2b7e-0c55-4d7a-9a3e-2b8f4c1d7e90",
            "apps": [{{"client_id": "3d9a4c21-7b6e-4f08-8e15-c0ffee5a1b2c", "display_name": "a", "certificate": "app.pem", "role": null}}],
            "recipients": [{recipient}]}}"#
    )
}

#[test]
fn broken_fixtures_are_refused_with_the_reason() {
    let ok = r#"{"ExternalDirectoryObjectId": "00000000-0000-0000-0000-000000000001", "Name": "a", "DisplayName": "A",
                 "RecipientTypeDetails": "UserMailbox", "EmailAddresses": ["SMTP:a@x.test"], "UserPrincipalName": "a@x.test",
                 "IsDirSynced": false, "IsExchangeCloudManaged": false, "UserCertificate": [{"Data": "MIIB"}]}"#;
    let t = load_str("ok", &fixture_with(ok)).unwrap();
    assert_eq!(
        t.recipients[0].user_certificate,
        vec![vec![0x30, 0x82, 0x01]]
    );
    assert_eq!(t.apps[0].role, exo_simulator::Role::None);
    for (name, bad, needle) in [
        (
            "guid",
            ok.replace("00000000-0000-0000-0000-000000000001", "not-a-guid"),
            "GUID",
        ),
        (
            "kind",
            ok.replace("UserMailbox", "RoomMailbox"),
            "RoomMailbox",
        ),
        (
            "primary",
            ok.replace(r#"["SMTP:a@x.test"]"#, r#"["smtp:a@x.test"]"#),
            "SMTP:",
        ),
        (
            "file",
            ok.replace(r#"{"Data": "MIIB"}"#, r#"{"File": "missing.der"}"#),
            "missing.der",
        ),
        (
            "value",
            ok.replace(r#"{"Data": "MIIB"}"#, r#"{"Data": "MIIB", "File": "x"}"#),
            "File",
        ),
        (
            "member",
            ok.replace("\"IsDirSynced\"", "\"Synced\": 1, \"IsDirSynced\""),
            "Synced",
        ),
        (
            "duplicate",
            format!("{ok}, {}", ok.replace("\"a\"", "\"b\"")),
            "duplicate ExternalDirectoryObjectId",
        ),
    ] {
        let err = load_str(name, &fixture_with(&bad)).unwrap_err().to_string();
        assert!(err.contains(needle), "{name}: {err}");
        assert!(
            err.contains("t.json") || err.contains("missing.der"),
            "{name}: {err}"
        );
    }
}
