//! `LdapSource` against real servers started by `scripts/slapd-start` and
//! `scripts/samba-start` in temporary directories (no mocks). Each slapd test
//! has its own instance; all Samba checks share one instance (provisioning
//! takes 10–15 s) inside one test function.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use certferry_export::secret::Secret;
use certferry_export::source::ldap::{build_filter, Bind, LdapOptions, LdapSource};
use certferry_export::source::{DirectorySource, RawEntry, Scope, SourceError};
use common::{closed_port, repo_root, TestServer};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Tests that read or change `LDAPTLS_CACERT` (process-wide) hold this lock.
static ENV_LOCK: Mutex<()> = Mutex::new(());

/// The users that have certificates and are enabled.
const ENABLED_WITH_CERTS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "oscar", "peggy",
    "trudy", "victor", "walter",
];

fn expected() -> Value {
    let path = repo_root().join("fixtures/directory/expected.json");
    serde_json::from_slice(&std::fs::read(&path).expect("read expected.json"))
        .expect("parse expected.json")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ca_file() -> PathBuf {
    repo_root().join("fixtures/pki/ca/root-ca.pem")
}

fn reader_options(server: &TestServer, url: &str) -> LdapOptions {
    let mut o = LdapOptions::new(url);
    o.ca_file = Some(ca_file());
    o.bind = Bind::Simple {
        name: server.var("READER_DN").to_owned(),
        password: Secret::new(server.file_var("READER_PASSWORD_FILE")),
    };
    o.connect_timeout = Duration::from_secs(10);
    o.operation_timeout = Duration::from_secs(30);
    o
}

fn read_all(opts: &LdapOptions) -> Result<Vec<RawEntry>, SourceError> {
    let mut src = LdapSource::connect(opts)?;
    let mut out = Vec::new();
    while let Some(e) = src.next_entry()? {
        out.push(e);
    }
    Ok(out)
}

/// Checks that `got` holds exactly the objects `keys` (matched by DN, any
/// case, `dn_field` of expected.json) and that every certificate value is
/// byte-identical to its fixture file. `fixture_ids`: also compare objectGUID
/// (slapd holds the fixture GUIDs; Samba assigns its own).
fn check_entries(got: &[RawEntry], keys: &[&str], dn_field: &str, fixture_ids: bool) {
    let exp = expected();
    let entries = exp["entries"].as_array().expect("entries");
    let mut seen = BTreeSet::new();
    for entry in got {
        let e = entries
            .iter()
            .find(|e| e[dn_field].as_str().expect("dn").to_lowercase() == entry.dn.to_lowercase())
            .unwrap_or_else(|| panic!("unexpected entry {}", entry.dn));
        let key = e["key"].as_str().expect("key");
        assert!(seen.insert(key.to_owned()), "{key} returned twice");
        assert_ne!(e["kind"], "computer", "computer {} returned", entry.dn);
        let classes: Vec<String> = entry
            .values("objectClass")
            .iter()
            .map(|v| String::from_utf8_lossy(v).to_lowercase())
            .collect();
        assert!(
            !classes.iter().any(|c| c == "computer"),
            "{key} is a computer"
        );
        for attr in ["userCertificate", "userSMIMECertificate"] {
            let mut want: Vec<String> = Vec::new();
            for c in e["certificates"].as_array().expect("certificates") {
                if c["attribute"] != attr {
                    continue;
                }
                let sha = c["sha256"].as_str().expect("sha256").to_owned();
                let file = repo_root().join(c["file"].as_str().expect("file"));
                let bytes =
                    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert_eq!(
                    sha256_hex(&bytes),
                    sha,
                    "{} differs from expected.json",
                    file.display()
                );
                want.push(sha);
            }
            let mut have: Vec<String> = entry.values(attr).iter().map(|v| sha256_hex(v)).collect();
            want.sort();
            have.sort();
            assert_eq!(have, want, "{key} {attr}");
        }
        let sam = e["sAMAccountName"].as_str();
        assert_eq!(entry.text("sAMAccountName"), sam, "{key} sAMAccountName");
        if fixture_ids {
            use base64::Engine as _;
            let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let guid = entry
                .values("objectGUID")
                .first()
                .unwrap_or_else(|| panic!("{key} has no objectGUID"));
            assert_eq!(
                encode(guid),
                e["objectGUID_base64"].as_str().expect("guid"),
                "{key} objectGUID"
            );
        } else if e["kind"] == "user" {
            assert_eq!(
                entry.values("objectGUID").first().map(Vec::len),
                Some(16),
                "{key} objectGUID"
            );
        }
    }
    let want: BTreeSet<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(seen, want);
}

fn with_keys(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = ENABLED_WITH_CERTS.to_vec();
    v.extend_from_slice(extra);
    v
}

fn assert_tls_error(r: Result<LdapSource, SourceError>, needles: &[&str]) -> String {
    match r {
        Err(SourceError::Tls(msg)) => {
            for n in needles {
                assert!(msg.contains(n), "TLS error {msg:?} does not mention {n:?}");
            }
            assert!(!msg.contains('\n'), "multi-line error: {msg}");
            eprintln!("{msg}");
            msg
        }
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, connected"),
    }
}

#[test]
fn slapd_ldaps_reader_gets_enabled_users_with_certificates() {
    let server = TestServer::slapd();
    let url = server.var("LDAPS_URI");
    let opts = reader_options(&server, url);
    assert!(opts.base.is_none());
    let mut src = LdapSource::connect(&opts).expect("connect");
    // base DN auto-detected from the RootDSE (slapd: namingContexts)
    assert_eq!(src.base(), server.var("BASE_DN"));
    let d = src.description();
    assert!(d.starts_with(url), "{d}");
    assert!(
        d.contains(server.var("BASE_DN")) && d.contains(src.filter()),
        "{d}"
    );
    assert!(!d.contains(&server.file_var("READER_PASSWORD_FILE")), "{d}");
    assert_eq!(src.filter(), build_filter(&Scope::default()).unwrap());
    let mut got = Vec::new();
    while let Some(e) = src.next_entry().expect("entry") {
        got.push(e);
    }
    assert_eq!(src.next_entry().expect("after the end"), None);
    assert!(src.skipped_references().is_empty());
    check_entries(&got, ENABLED_WITH_CERTS, "dn", true);
}

#[test]
fn slapd_starttls_contacts_disabled_and_small_pages() {
    let server = TestServer::slapd();
    let mut opts = reader_options(&server, server.var("LDAP_URI"));
    opts.starttls = true;
    opts.page_size = 2;
    opts.scope = Scope {
        contacts: true,
        include_disabled: true,
        extra_filter: None,
    };
    let got = read_all(&opts).expect("read over StartTLS");
    check_entries(&got, &with_keys(&["partner", "judy"]), "dn", true);
    // contacts only when asked; the disabled judy only when asked
    opts.scope = Scope {
        contacts: true,
        include_disabled: false,
        extra_filter: None,
    };
    check_entries(
        &read_all(&opts).expect("read"),
        &with_keys(&["partner"]),
        "dn",
        true,
    );
    opts.scope = Scope {
        contacts: false,
        include_disabled: true,
        extra_filter: None,
    };
    opts.page_size = 1000;
    check_entries(
        &read_all(&opts).expect("read"),
        &with_keys(&["judy"]),
        "dn",
        true,
    );
}

#[test]
fn slapd_extra_filter_and_bad_base() {
    let server = TestServer::slapd();
    let mut opts = reader_options(&server, server.var("LDAPS_URI"));
    opts.scope.extra_filter =
        Some("(|(sAMAccountName=alice)(sAMAccountName=oscar)(sAMAccountName=judy))".into());
    check_entries(
        &read_all(&opts).expect("read"),
        &["alice", "oscar"],
        "dn",
        true,
    );

    opts.scope.extra_filter = Some("(=broken)".into());
    match read_all(&opts) {
        Err(SourceError::Search(m)) => assert!(m.contains("filter"), "{m}"),
        other => panic!("expected a filter error, got {other:?}"),
    }
    opts.scope.extra_filter = Some("sAMAccountName=alice".into());
    assert!(matches!(read_all(&opts), Err(SourceError::Search(m)) if m.contains("parentheses")));

    opts.scope.extra_filter = None;
    opts.base = Some("ou=Nowhere,dc=contoso,dc=test".into());
    match read_all(&opts) {
        Err(SourceError::Search(m)) => {
            assert!(
                m.contains("ou=Nowhere,dc=contoso,dc=test") && m.contains("noSuchObject"),
                "{m}"
            )
        }
        other => panic!("expected noSuchObject, got {other:?}"),
    }
    // an explicit base in another case works (DNs are case-insensitive)
    opts.base = Some("OU=Users,DC=contoso,DC=test".into());
    check_entries(
        &read_all(&opts).expect("read"),
        ENABLED_WITH_CERTS,
        "dn",
        true,
    );
}

#[test]
fn slapd_wrong_password_is_a_bind_error() {
    let server = TestServer::slapd();
    let mut opts = reader_options(&server, server.var("LDAPS_URI"));
    let password = "not-the-password-xyzzy";
    opts.bind = Bind::Simple {
        name: server.var("READER_DN").to_owned(),
        password: Secret::new(password.into()),
    };
    match LdapSource::connect(&opts) {
        Err(SourceError::Bind(m)) => {
            assert!(
                m.contains("invalid credentials") && m.contains(server.var("READER_DN")),
                "{m}"
            );
            assert!(m.contains(server.var("LDAPS_URI")), "{m}");
            assert!(!m.contains(password), "{m}");
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    // an empty password would be an anonymous "unauthenticated bind": refused
    opts.bind = Bind::Simple {
        name: server.var("READER_DN").to_owned(),
        password: Secret::new(String::new()),
    };
    assert!(
        matches!(LdapSource::connect(&opts), Err(SourceError::Bind(m)) if m.contains("empty password"))
    );
    // anonymous: the RootDSE is readable (base found), the search is refused
    opts.bind = Bind::Anonymous;
    match read_all(&opts) {
        Err(SourceError::Search(m)) => assert!(m.contains("requires a bind"), "{m}"),
        other => panic!("expected a refused anonymous search, got {other:?}"),
    }
}

#[test]
fn unreachable_port_is_a_connect_error() {
    let port = closed_port();
    for url in [
        format!("ldap://127.0.0.1:{port}"),
        format!("ldaps://127.0.0.1:{port}"),
    ] {
        let mut opts = LdapOptions::new(url.clone());
        opts.ca_file = Some(ca_file());
        opts.connect_timeout = Duration::from_secs(5);
        let t0 = Instant::now();
        match LdapSource::connect(&opts) {
            Err(SourceError::Connect(m)) => {
                assert!(m.contains(&url) && m.contains("connection refused"), "{m}")
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn slapd_tls_name_mismatch() {
    let server = TestServer::slapd();
    // The certificate names 127.0.0.1 and localhost. 0.0.0.0 reaches the same
    // listener on Linux but is not in the certificate.
    let url = format!("ldaps://0.0.0.0:{}", server.var("LDAPS_PORT"));
    let opts = reader_options(&server, &url);
    let msg = assert_tls_error(
        LdapSource::connect(&opts),
        &["name mismatch", "0.0.0.0", &url],
    );
    assert!(msg.contains("it names 127.0.0.1, localhost"), "{msg}");
    // the same over StartTLS
    let mut opts = reader_options(
        &server,
        &format!("ldap://0.0.0.0:{}", server.var("LDAP_PORT")),
    );
    opts.starttls = true;
    assert_tls_error(LdapSource::connect(&opts), &["name mismatch", "StartTLS"]);
    // ldaps:// against the plain LDAP port
    let opts = reader_options(
        &server,
        &format!("ldaps://127.0.0.1:{}", server.var("LDAP_PORT")),
    );
    assert_tls_error(LdapSource::connect(&opts), &["TLS"]);
    // ldap:// against the LDAPS port: the server drops the connection at the bind
    let url = format!("ldap://127.0.0.1:{}", server.var("LDAPS_PORT"));
    match LdapSource::connect(&reader_options(&server, &url)) {
        Err(SourceError::Connect(m)) => {
            assert!(m.contains(&url) && m.contains("use ldaps://"), "{m}")
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[test]
fn slapd_tls_unknown_ca_and_ldaptls_cacert() {
    let server = TestServer::slapd();
    let _env = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let saved = std::env::var_os("LDAPTLS_CACERT");
    std::env::remove_var("LDAPTLS_CACERT");
    let mut opts = reader_options(&server, server.var("LDAPS_URI"));
    opts.ca_file = None;
    let r = LdapSource::connect(&opts);
    // a different, untrusted CA file
    let mut rogue = reader_options(&server, server.var("LDAPS_URI"));
    rogue.ca_file = Some(repo_root().join("fixtures/pki/ca/rogue-ca.pem"));
    let r_rogue = LdapSource::connect(&rogue);
    // LDAPTLS_CACERT is honoured when no CA file is given
    std::env::set_var("LDAPTLS_CACERT", ca_file());
    let r_env = read_all(&opts);
    match saved {
        Some(v) => std::env::set_var("LDAPTLS_CACERT", v),
        None => std::env::remove_var("LDAPTLS_CACERT"),
    }
    assert_tls_error(r, &["unknown CA", "system"]);
    assert_tls_error(r_rogue, &["unknown CA", "rogue-ca.pem"]);
    check_entries(
        &r_env.expect("read with LDAPTLS_CACERT"),
        ENABLED_WITH_CERTS,
        "dn",
        true,
    );
}

#[test]
fn slapd_killed_mid_stream_is_an_error() {
    let server = TestServer::slapd();
    let mut opts = reader_options(&server, server.var("LDAPS_URI"));
    opts.page_size = 1;
    opts.operation_timeout = Duration::from_secs(10);
    let mut src = LdapSource::connect(&opts).expect("connect");
    let first = src.next_entry().expect("first entry");
    assert!(first.is_some());
    server.kill_hard();
    let t0 = Instant::now();
    let mut n = 1;
    let err = loop {
        match src.next_entry() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("silent truncation: the stream ended after {n} entries"),
            Err(e) => break e,
        }
        assert!(
            n < ENABLED_WITH_CERTS.len(),
            "got every entry from a killed server"
        );
    };
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Connect(_)), "{err:?}");
    assert!(
        msg.contains(server.var("LDAPS_URI")) && msg.contains("closed"),
        "{msg}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    // the error sticks
    assert!(src.next_entry().is_err());
}

#[test]
fn samba_ad() {
    let server = TestServer::samba();
    let t0 = Instant::now();
    let ldaps = server.var("LDAPS_URI").to_owned();
    let admin_pw = server.file_var("ADMIN_PASSWORD_FILE");
    let admin = |name: &str, url: &str| {
        let mut o = LdapOptions::new(url);
        o.ca_file = Some(ca_file());
        o.bind = Bind::Simple {
            name: name.to_owned(),
            password: Secret::new(admin_pw.clone()),
        };
        o
    };
    let netbios = format!("{}\\Administrator", server.var("NETBIOS_DOMAIN"));
    for name in [
        server.var("BIND_UPN"),
        netbios.as_str(),
        server.var("ADMIN_DN"),
    ] {
        let mut src = LdapSource::connect(&admin(name, &ldaps))
            .unwrap_or_else(|e| panic!("bind as {name}: {e}"));
        // defaultNamingContext; a subtree search at the domain root gets
        // referrals (Configuration, ...), which are skipped
        assert!(
            src.base().eq_ignore_ascii_case(server.var("BASE_DN")),
            "{}",
            src.base()
        );
        let mut got = Vec::new();
        while let Some(e) = src
            .next_entry()
            .unwrap_or_else(|e| panic!("read as {name}: {e}"))
        {
            got.push(e);
        }
        check_entries(&got, ENABLED_WITH_CERTS, "samba_dn", false);
        let refs = src.skipped_references();
        assert!(
            refs.iter()
                .any(|r| r.to_ascii_lowercase().contains("cn=configuration")),
            "expected skipped referrals at the domain root, got {refs:?}"
        );
    }
    // contacts and disabled accounts, small pages, as the non-admin reader over StartTLS
    let mut o = LdapOptions::new(server.var("LDAP_URI"));
    o.starttls = true;
    o.ca_file = Some(ca_file());
    o.bind = Bind::Simple {
        name: server.var("READER_UPN").to_owned(),
        password: Secret::new(server.file_var("READER_PASSWORD_FILE")),
    };
    o.page_size = 3;
    o.scope = Scope {
        contacts: true,
        include_disabled: true,
        extra_filter: None,
    };
    check_entries(
        &read_all(&o).expect("reader over StartTLS"),
        &with_keys(&["partner", "judy"]),
        "samba_dn",
        false,
    );

    // wrong password
    let mut bad = admin(server.var("BIND_UPN"), &ldaps);
    bad.bind = Bind::Simple {
        name: server.var("BIND_UPN").to_owned(),
        password: Secret::new("wrong-Passw0rd!".into()),
    };
    assert!(
        matches!(LdapSource::connect(&bad), Err(SourceError::Bind(m)) if m.contains("invalid credentials")),
        "wrong password"
    );
    // simple bind over clear LDAP: refused with the hint
    match LdapSource::connect(&admin(server.var("BIND_UPN"), server.var("LDAP_URI"))) {
        Err(SourceError::Bind(m)) => assert!(
            m.contains("requires TLS or signing")
                && m.contains("ldaps://")
                && m.contains("StartTLS"),
            "{m}"
        ),
        other => panic!("expected the strong-auth error, got {other:?}"),
    }
    // bad base DN
    let mut nb = admin(server.var("BIND_UPN"), &ldaps);
    nb.base = Some(format!("OU=Nowhere,{}", server.var("BASE_DN")));
    assert!(matches!(read_all(&nb), Err(SourceError::Search(m)) if m.contains("noSuchObject")));
    eprintln!(
        "samba checks took {:.1} s after the start",
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn test_server_is_stopped_when_a_test_panics() {
    let pid = Mutex::new(String::new());
    let dir = Mutex::new(PathBuf::new());
    let r = std::panic::catch_unwind(|| {
        let server = TestServer::slapd();
        *pid.lock().unwrap() = server.var("PID").to_owned();
        *dir.lock().unwrap() = server.instance_dir();
        panic!("deliberate panic with a running server");
    });
    assert!(r.is_err());
    let pid = pid.into_inner().unwrap();
    assert!(!pid.is_empty());
    assert!(
        !PathBuf::from(format!("/proc/{pid}/cmdline")).exists() || {
            // a zombie left for its reaper counts as stopped
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z"))
        },
        "slapd {pid} still running after the panic"
    );
    assert!(
        !dir.into_inner().unwrap().exists(),
        "instance directory left behind"
    );
}

/// `openssl s_server` presenting dave's expired (2020-2021) certificate,
/// issued by the fixture CA: the handshake must fail naming the expiry.
#[test]
fn expired_server_certificate_is_a_tls_error() {
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pki = repo_root().join("fixtures/pki");
    let port = closed_port();
    let child = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(pki.join("certs/dave.pem"))
        .arg("-key")
        .arg(pki.join("keys/dave.key"))
        .arg("-cert_chain")
        .arg(pki.join("ca/issuing-ca.pem"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start openssl s_server (the openssl binary is required)");
    let mut child = Child(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("openssl s_server exited: {status}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "openssl s_server does not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("ldaps://127.0.0.1:{port}");
    let mut opts = LdapOptions::new(url.clone());
    opts.ca_file = Some(ca_file());
    opts.connect_timeout = Duration::from_secs(5);
    assert_tls_error(
        LdapSource::connect(&opts),
        &["expired", "2021-01-01 00:00:00 UTC", &url],
    );
}

#[test]
fn slapd_hung_server_hits_the_timeouts() {
    let server = TestServer::slapd();
    let mut opts = reader_options(&server, server.var("LDAPS_URI"));
    opts.page_size = 1;
    opts.operation_timeout = Duration::from_millis(800);
    let mut src = LdapSource::connect(&opts).expect("connect");
    assert!(src.next_entry().expect("first entry").is_some());
    // a hung server: the next page never comes
    server.pause();
    let t0 = Instant::now();
    let mut n = 1;
    let err = loop {
        match src.next_entry() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("silent truncation after {n} entries"),
            Err(e) => break e,
        }
        assert!(n < ENABLED_WITH_CERTS.len());
    };
    let took = t0.elapsed();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::Connect(_)), "{err:?}");
    assert!(
        msg.contains("operation timeout") && msg.contains(server.var("LDAPS_URI")),
        "{msg}"
    );
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // connecting to the hung server: TCP is accepted by the kernel, the TLS
    // handshake never completes
    opts.connect_timeout = Duration::from_millis(700);
    let t0 = Instant::now();
    match LdapSource::connect(&opts) {
        Err(SourceError::Connect(m)) => assert!(m.contains("connect timeout"), "{m}"),
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
    server.resume();
    // and it works again once the server answers
    opts.page_size = 500;
    opts.connect_timeout = Duration::from_secs(10);
    opts.operation_timeout = Duration::from_secs(30);
    check_entries(
        &read_all(&opts).expect("read after resume"),
        ENABLED_WITH_CERTS,
        "dn",
        true,
    );
}
