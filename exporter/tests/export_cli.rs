//! End-to-end tests of the `certferry-export` binary: the bundle it writes
//! from the LDIF dump, a real slapd and a real Samba AD DC holds exactly what
//! the directory holds (checked through the format library's verified path
//! against fixtures/directory/expected.json), exports are reproducible, and
//! every failure exits with its documented code and leaves nothing behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use certferry_format::{Sha256, VerifiedBundle};
use common::work::{alice_class, assert_failed_cleanly, bin, ok_json, Work};
use common::{repo_root, TestServer};
use serde_json::Value as Json;

fn expected() -> Json {
    serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/directory/expected.json")).unwrap(),
    )
    .unwrap()
}

/// Which fixture objects an export should contain.
fn wanted(e: &Json, contacts: bool, disabled: bool) -> bool {
    let has_certs = !e["certificates"].as_array().unwrap().is_empty();
    match e["kind"].as_str().unwrap() {
        "user" => has_certs && (disabled || !e["disabled"].as_bool().unwrap()),
        "contact" => has_certs && contacts,
        _ => false,
    }
}

/// Which identity fields a server gives back as in the fixtures.
#[derive(Clone, Copy, PartialEq)]
enum Fidelity {
    /// LDIF and slapd: the fixture's GUIDs, SIDs and DNs.
    Fixture,
    /// Samba assigns its own GUIDs and SIDs and puts users in CN=Users.
    Samba,
}

/// Asserts that the verified bundle holds exactly the wanted fixture objects,
/// every attribute decoded and every value byte for byte.
fn assert_bundle_matches_directory(
    b: &VerifiedBundle,
    contacts: bool,
    disabled: bool,
    fidelity: Fidelity,
) {
    let exp = expected();
    let want: Vec<&Json> = exp["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| wanted(e, contacts, disabled))
        .collect();
    let got: Vec<_> = b.entries().collect();
    let mut got_names: Vec<String> = got
        .iter()
        .map(|e| e.entry().display_name.clone().unwrap_or_default())
        .collect();
    let mut want_names: Vec<String> = want
        .iter()
        .map(|e| e["displayName"].as_str().unwrap().to_owned())
        .collect();
    got_names.sort();
    want_names.sort();
    assert_eq!(got_names, want_names, "exported objects");
    for w in want {
        let name = w["displayName"].as_str().unwrap();
        let g = got
            .iter()
            .find(|e| e.entry().display_name.as_deref() == Some(name))
            .unwrap();
        let e = g.entry();
        let s = |k: &str| w[k].as_str().map(str::to_owned);
        assert_eq!(e.kind.as_str(), w["kind"].as_str().unwrap(), "{name} kind");
        assert_eq!(e.upn, s("userPrincipalName"), "{name} upn");
        assert_eq!(
            e.sam_account_name,
            s("sAMAccountName"),
            "{name} sAMAccountName"
        );
        assert_eq!(e.mail, s("mail"), "{name} mail");
        let proxies: Vec<String> = w["proxyAddresses"].as_array().map_or(vec![], |a| {
            a.iter().map(|p| p.as_str().unwrap().to_owned()).collect()
        });
        assert_eq!(e.proxy_addresses, proxies, "{name} proxyAddresses");
        assert_eq!(
            e.disabled,
            w["disabled"].as_bool().unwrap(),
            "{name} disabled"
        );
        let dn_key = if fidelity == Fidelity::Samba {
            "samba_dn"
        } else {
            "dn"
        };
        assert!(
            e.dn.eq_ignore_ascii_case(w[dn_key].as_str().unwrap()),
            "{name} dn {} vs {}",
            e.dn,
            w[dn_key]
        );
        if fidelity == Fidelity::Fixture {
            let guid = w["objectGUID"]
                .as_str()
                .unwrap()
                .trim_matches(|c| c == '{' || c == '}');
            assert_eq!(e.object_guid.as_deref(), Some(guid), "{name} objectGUID");
            assert_eq!(e.object_sid, s("objectSid"), "{name} objectSid");
        } else {
            assert_eq!(
                e.object_guid.as_ref().map(String::len),
                Some(36),
                "{name} objectGUID from Samba"
            );
            if e.kind.as_str() == "user" {
                assert!(
                    e.object_sid.as_deref().unwrap().starts_with("S-1-5-21-"),
                    "{name} objectSid from Samba"
                );
            }
        }
        let certs = w["certificates"].as_array().unwrap();
        assert_eq!(g.values().len(), certs.len(), "{name}: number of values");
        for (i, (c, (v, bytes))) in certs
            .iter()
            .zip(e.values.iter().zip(g.values()))
            .enumerate()
        {
            assert_eq!(
                v.attribute.as_str(),
                c["attribute"].as_str().unwrap(),
                "{name} value {i} attribute"
            );
            assert_eq!(
                Sha256::digest(bytes.bytes()).to_hex(),
                c["sha256"].as_str().unwrap(),
                "{name} value {i} bytes"
            );
            let file = std::fs::read(repo_root().join(c["file"].as_str().unwrap())).unwrap();
            assert_eq!(
                bytes.bytes(),
                file.as_slice(),
                "{name} value {i} equals {}",
                c["file"]
            );
        }
    }
}

#[test]
fn ldif_export_holds_exactly_the_directory() {
    let w = Work::new();
    let summary = ok_json(&w.export_ldif(&["--contacts"]));
    assert_eq!(summary["sequence"], 1);
    let b = w.verify(&summary);
    assert_bundle_matches_directory(&b, true, false, Fidelity::Fixture);
    let warnings = summary["summary"]["warnings"].to_string();
    assert!(
        warnings.contains("oscar@contoso.test: 16 userCertificate values"),
        "{warnings}"
    );
    assert!(warnings.contains("trudy@contoso.test"), "{warnings}");
}

#[test]
fn ldif_export_with_disabled_accounts_and_only_usable() {
    let w = Work::new();
    let b = w.verify(&ok_json(&w.export_ldif(&["--include-disabled"])));
    assert_bundle_matches_directory(&b, false, true, Fidelity::Fixture);

    let w = Work::new();
    let summary = ok_json(&w.export_ldif(&["--only-usable"]));
    let b = w.verify(&summary);
    for e in b.entries() {
        for v in &e.entry().values {
            assert!(
                v.certificates.iter().any(|c| c.class != "unusable"),
                "{}: unusable value kept",
                e.entry().label()
            );
        }
    }
    let names: Vec<String> = b
        .entries()
        .filter_map(|e| e.entry().sam_account_name.clone())
        .collect();
    for gone in ["dave", "erin", "frank", "grace", "trudy", "victor"] {
        assert!(
            !names.contains(&gone.to_owned()),
            "{gone} has no usable certificate: {names:?}"
        );
    }
    assert!(names.contains(&"alice".to_owned()));
}

/// Alice's certificate and its recorded class and reasons, exported with `ca_args`.
fn alice_classified(ca_args: &[(&str, &str)]) -> (String, Vec<String>) {
    let w = Work::new();
    alice_class(&w.verify(&ok_json(&w.export_ldif_trusting(ca_args, &[]))))
}

#[test]
fn a_pinned_root_needs_the_intermediate_to_trust_what_the_issuing_ca_signed() {
    let (class, reasons) = alice_classified(&[
        ("--trusted-ca", "ca/root-ca.pem"),
        ("--intermediate-ca", "ca/issuing-ca.pem"),
    ]);
    assert_eq!(
        (class.as_str(), reasons.len()),
        ("encryption", 0),
        "{reasons:?}"
    );
    let (class, reasons) = alice_classified(&[("--trusted-ca", "ca/root-ca.pem")]);
    assert_eq!(class, "unusable");
    assert_eq!(reasons, ["untrusted-issuer"]);
}

/// Each member's name and compression method, walking the local headers of
/// a bundle the verifier accepted.
fn member_methods(zip: &[u8]) -> Vec<(String, u16)> {
    let le16 = |at: usize| u16::from_le_bytes([zip[at], zip[at + 1]]);
    let le32 = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut pos = 0;
    while le32(pos) == 0x0403_4b50 {
        let size = le32(pos + 18) as usize;
        let name_len = usize::from(le16(pos + 26));
        let name = String::from_utf8(zip[pos + 30..pos + 30 + name_len].to_vec()).unwrap();
        out.push((name, le16(pos + 8)));
        pos += 30 + name_len + size;
    }
    out
}

#[test]
fn bundle_revision_1_3_and_1_4_carry_the_same_snapshot_in_their_own_forms() {
    let (old, new) = (Work::new(), Work::new());
    let s13 = ok_json(&old.export_ldif(&["--contacts", "--bundle-revision", "1.3"]));
    let s14 = ok_json(&new.export_ldif(&["--contacts"]));
    let (b13, b14) = (old.verify(&s13), new.verify(&s14));
    let entries = |b: &VerifiedBundle| b.entries().map(|e| e.entry().clone()).collect::<Vec<_>>();
    assert_eq!(
        entries(&b13),
        entries(&b14),
        "the two revisions describe the snapshot differently"
    );
    assert_eq!(b13.review_csv(), b14.review_csv());
    assert_eq!(b13.header().counts, b14.header().counts);

    let deflated = |b: &VerifiedBundle| -> Vec<String> {
        member_methods(b.bytes())
            .into_iter()
            .filter(|(_, method)| *method != 0)
            .map(|(name, method)| {
                assert_eq!(method, 8, "{name}");
                name
            })
            .collect()
    };
    assert!(deflated(&b13).is_empty(), "{:?}", deflated(&b13));
    assert_eq!(
        deflated(&b14),
        [
            "data/entries.jsonl",
            "data/review.csv",
            "manifest-sha256.txt"
        ],
    );
    assert!(
        b14.bytes().len() < b13.bytes().len(),
        "1.4 ({} bytes) is not smaller than 1.3 ({} bytes)",
        b14.bytes().len(),
        b13.bytes().len()
    );
}

#[test]
fn same_directory_exported_twice_gives_byte_identical_bundles() {
    let (a, b) = (Work::new(), Work::new());
    // The same key makes the signatures comparable too.
    std::fs::copy(a.path("exp.key"), b.path("exp.key")).unwrap();
    let sa = ok_json(&a.export_ldif(&["--contacts"]));
    let sb = ok_json(&b.export_ldif(&["--contacts"]));
    assert_eq!(sa["sha256"], sb["sha256"]);
    let read = |s: &Json, k: &str| std::fs::read(s[k].as_str().unwrap()).unwrap();
    assert_eq!(read(&sa, "bundle"), read(&sb, "bundle"));
    assert_eq!(read(&sa, "signature"), read(&sb, "signature"));
}

#[test]
fn second_export_takes_the_next_sequence_and_chains_the_previous_hash() {
    let w = Work::new();
    let first = ok_json(&w.export_ldif(&[]));
    let second = ok_json(&w.export_ldif(&[]));
    assert_eq!(second["sequence"], 2);
    let b = w.verify(&second);
    assert_eq!(
        b.header().previous_sha256.map(|h| h.to_hex()),
        first["sha256"].as_str().map(str::to_owned)
    );
    assert_eq!(w.files().len(), 4, "{:?}", w.files());
}

#[test]
fn wrong_key_password_exits_4_and_writes_nothing() {
    let w = Work::new();
    std::fs::write(w.path("key.password"), "wrong").unwrap();
    let out = w.export_ldif(&[]);
    assert_failed_cleanly(&out, 4, "password", &w);
}

#[test]
fn unreadable_key_exits_4() {
    let w = Work::new();
    std::fs::write(w.path("exp.key"), "not a key\n").unwrap();
    assert_failed_cleanly(&w.export_ldif(&[]), 4, "signing key", &w);
}

#[test]
fn malformed_ldif_exits_3_naming_the_line_and_writes_nothing() {
    let w = Work::new();
    let bad = w.path("bad.ldif");
    std::fs::write(
        &bad,
        "dn: CN=x,DC=contoso,DC=test\nobjectClass: user\nthis line has no colon\n",
    )
    .unwrap();
    let out = bin()
        .arg("ldif")
        .arg(&bad)
        .args(w.output_args())
        .output()
        .unwrap();
    assert_failed_cleanly(&out, 3, "line 3", &w);
}

#[test]
fn unreachable_server_exits_3_and_writes_nothing() {
    let w = Work::new();
    let uri = format!("ldaps://127.0.0.1:{}", common::closed_port());
    let out = bin()
        .args(["ldap", "-H", &uri, "-D", "cn=x", "-y"])
        .arg(w.path("key.password"))
        .args(["--connect-timeout", "3"])
        .args(w.output_args())
        .output()
        .unwrap();
    assert_failed_cleanly(&out, 3, "127.0.0.1", &w);
}

/// A one-connection server on 127.0.0.1: `talk` gets the accepted
/// connection; after it, the connection stays open until the client closes it,
/// so that only what the server sent can end the export.
fn test_server(talk: impl FnOnce(&mut std::net::TcpStream) + Send + 'static) -> u16 {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        talk(&mut conn);
        let mut rest = [0u8; 4096];
        while matches!(conn.read(&mut rest), Ok(n) if n > 0) {}
    });
    port
}

/// Exports from `port` (plain LDAP) and asserts a one-line "malformed LDAP
/// message" error, exit 3, no panic message and nothing written.
fn assert_malformed_message_reported(port: u16, extra: &[&str], case: &str) {
    let w = Work::new();
    let uri = format!("ldap://127.0.0.1:{port}");
    let out = bin()
        .args(["ldap", "-H", &uri, "-D", "cn=x", "-y"])
        .arg(w.path("key.password"))
        .args(["--allow-cleartext-bind", "--timeout", "20"])
        .args(extra)
        .args(w.output_args())
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{case}: {err}");
    assert_failed_cleanly(&out, 3, "malformed LDAP message from", &w);
}

#[test]
fn malformed_ldap_message_from_the_server_exits_3_without_a_panic() {
    use std::io::{Read as _, Write as _};
    let replies: [&[u8]; 4] = [
        // an empty LDAPMessage sequence
        &[0x30, 0x00],
        // a message ID and nothing else
        &[0x30, 0x03, 0x02, 0x01, 0x01],
        // controls but no protocol operation
        &[0x30, 0x05, 0x02, 0x01, 0x01, 0xa0, 0x00],
        // a message ID that is not an INTEGER
        &[0x30, 0x05, 0x04, 0x01, 0x01, 0x61, 0x00],
    ];
    for reply in replies {
        // The bind request is answered with the malformed message.
        let port = test_server(move |conn| {
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(reply);
        });
        assert_malformed_message_reported(port, &[], &format!("{reply:02x?}"));
    }
}

/// Request and response operation tags of a bind, a search (answered with no
/// entries) and an extended operation (StartTLS).
const BIND: (u8, u8) = (0x60, 0x61);
const SEARCH: (u8, u8) = (0x63, 0x65);
const EXTENDED: (u8, u8) = (0x77, 0x78);

/// Operations and the controls to answer them with.
type Script = &'static [((u8, u8), &'static [u8])];

/// A minimal LDAP server: answers each request (message IDs of one octet) of
/// an operation in `script` with success and that operation's controls.
fn scripted_server(script: Script) -> u16 {
    use std::io::{Read as _, Write as _};
    test_server(move |conn| {
        let mut request = [0u8; 4096];
        while let Ok(8..) = conn.read(&mut request) {
            // 30 len 02 01 id op ...: the message ID and operation, after a
            // length of one octet or (long form, 0x81/0x82) of two or three.
            let at = match request[1] {
                0x81 => 3,
                0x82 => 4,
                _ => 2,
            };
            let (id, op) = (request[at + 2], request[at + 3]);
            let Some(&((_, reply_op), controls)) = script.iter().find(|((o, _), _)| *o == op)
            else {
                continue;
            };
            let mut body = vec![0x02, 0x01, id, reply_op, 0x07];
            body.extend_from_slice(&[0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]);
            body.extend_from_slice(controls);
            let mut reply = vec![0x30, u8::try_from(body.len()).unwrap()];
            reply.extend_from_slice(&body);
            if conn.write_all(&reply).is_err() {
                break;
            }
        }
    })
}

#[test]
fn malformed_ldap_controls_from_the_server_exit_3_without_a_panic() {
    // A control that is not a sequence: ldap3's control parser panics on it
    // while decoding the bind response, in its connection task.
    const NOT_A_SEQUENCE: &[u8] = &[0xa0, 0x02, 0x04, 0x00];
    // A paged-results control whose value is not a sequence: ldap3's paged
    // search panics on it when the search is done, on the reading thread.
    const BAD_PAGED_VALUE: &[u8] = &[
        0xa0, 0x1e, 0x30, 0x1c, 0x04, 0x16, b'1', b'.', b'2', b'.', b'8', b'4', b'0', b'.', b'1',
        b'1', b'3', b'5', b'5', b'6', b'.', b'1', b'.', b'4', b'.', b'3', b'1', b'9', 0x04, 0x02,
        0x04, 0x00,
    ];
    let cases: [(Script, &[&str]); 3] = [
        (&[(BIND, NOT_A_SEQUENCE)], &[]),
        (
            &[(BIND, &[]), (SEARCH, BAD_PAGED_VALUE)],
            &["-b", "dc=test"],
        ),
        // StartTLS: the response is decoded while connecting.
        (&[(EXTENDED, NOT_A_SEQUENCE)], &["-Z"]),
    ];
    for (script, args) in cases {
        let port = scripted_server(script);
        assert_malformed_message_reported(port, args, &format!("{script:02x?}"));
    }
}

#[test]
fn cleartext_simple_bind_is_refused_with_exit_2() {
    let w = Work::new();
    let out = bin()
        .args(["ldap", "-H", "ldap://127.0.0.1:1", "-D", "cn=x", "-y"])
        .arg(w.path("key.password"))
        .args(w.output_args())
        .output()
        .unwrap();
    assert_failed_cleanly(&out, 2, "StartTLS", &w);
}

#[test]
fn existing_bundle_is_never_overwritten() {
    let w = Work::new();
    ok_json(&w.export_ldif(&[]));
    std::fs::remove_file(w.path("state.json")).unwrap();
    let before = w.files();
    let out = w.export_ldif(&[]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(w.files(), before);
}

fn ldap_export(
    w: &Work,
    server: &TestServer,
    bind: &str,
    password_file: &str,
    extra: &[&str],
) -> Output {
    w.export_ldap(server, bind, password_file, extra)
}

#[test]
fn slapd_export_holds_exactly_the_directory_and_is_reproducible() {
    let server = TestServer::slapd();
    let w = Work::new();
    let out = ldap_export(
        &w,
        &server,
        server.var("READER_DN"),
        server.var("READER_PASSWORD_FILE"),
        &["--contacts", "--page-size", "3"],
    );
    let summary = ok_json(&out);
    let b = w.verify(&summary);
    assert_bundle_matches_directory(&b, true, false, Fidelity::Fixture);
    assert!(
        b.header()
            .source_description
            .contains(server.var("LDAPS_URI")),
        "{}",
        b.header().source_description
    );

    let again = Work::new();
    std::fs::copy(w.path("exp.key"), again.path("exp.key")).unwrap();
    let s2 = ok_json(&ldap_export(
        &again,
        &server,
        server.var("READER_DN"),
        server.var("READER_PASSWORD_FILE"),
        &["--contacts", "--page-size", "3"],
    ));
    assert_eq!(
        summary["sha256"], s2["sha256"],
        "same directory, same time: same bytes"
    );
}

#[test]
fn slapd_wrong_bind_password_exits_3() {
    let server = TestServer::slapd();
    let w = Work::new();
    let pw = w.path("bad.password");
    std::fs::write(&pw, "nope").unwrap();
    let out = ldap_export(
        &w,
        &server,
        server.var("READER_DN"),
        pw.to_str().unwrap(),
        &[],
    );
    assert_failed_cleanly(&out, 3, "invalid credentials", &w);
}

/// slapd's limited reader (`olcLimits ... size.prtotal=5` in
/// fixtures/slapd/config.ldif.in) gets at most 5 entries per search, paged or
/// not; there are more certificate holders, so the paged search ends in
/// sizeLimitExceeded (result 4). The export must fail as a directory error
/// naming the server, never write a partial bundle, and not advance the state.
#[test]
fn slapd_size_limit_exceeded_exits_3_and_writes_nothing() {
    let server = TestServer::slapd();
    let uri = server.var("LDAPS_URI");
    let password = server.file_var("LIMITED_READER_PASSWORD_FILE");
    // the limit hit in the first page (default page size) and on a later page
    for extra in [&[][..], &["--page-size", "2"][..]] {
        let w = Work::new();
        let out = ldap_export(
            &w,
            &server,
            server.var("LIMITED_READER_DN"),
            server.var("LIMITED_READER_PASSWORD_FILE"),
            extra,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?}: stdout {:?}", out.stdout);
        assert_failed_cleanly(&out, 3, "sizeLimitExceeded after 5 entries", &w);
        assert!(
            err.contains(&format!(
                "the search on {uri} stopped with sizeLimitExceeded"
            )),
            "{extra:?}: {err}"
        );
        assert!(!err.contains(&password), "password printed: {err}");
        assert!(!w.path("state.json").exists(), "state must not advance");
    }
}

#[test]
fn samba_export_holds_the_directory_certificates_byte_for_byte() {
    let server = TestServer::samba();
    let w = Work::new();
    let out = ldap_export(
        &w,
        &server,
        server.var("BIND_UPN"),
        server.var("ADMIN_PASSWORD_FILE"),
        &["--contacts"],
    );
    let b = w.verify(&ok_json(&out));
    assert_bundle_matches_directory(&b, true, false, Fidelity::Samba);
}

#[test]
fn ctrl_c_mid_export_exits_130_and_leaves_nothing_behind() {
    interrupted_export_leaves_nothing(&[], 1);
}

#[test]
fn ctrl_c_while_a_later_part_is_written_leaves_no_part_behind() {
    interrupted_export_leaves_nothing(&["--part-size", "64K"], 2);
}

/// Interrupts an export of 20,000 users once `files` temp files are in the
/// output folder (with parts: once a later part is being written).
fn interrupted_export_leaves_nothing(extra: &[&str], files: usize) {
    let w = Work::new();
    let big = w.path("big.ldif");
    let status = Command::new(repo_root().join("fixtures/directory/bulk"))
        .args(["20000", "--ad"])
        .stdout(std::fs::File::create(&big).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let child = bin()
        .arg("ldif")
        .arg(&big)
        .args(w.output_args())
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the export has started writing (its temp files exist), then interrupt.
    let t0 = std::time::Instant::now();
    while std::fs::read_dir(w.out()).unwrap().count() < files && t0.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        w.files().len() >= files,
        "the export never got there: {:?}",
        w.files()
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(w.files().is_empty(), "left behind: {:?}", w.files());
    assert!(!w.path("state.json").exists(), "state must not advance");
}
