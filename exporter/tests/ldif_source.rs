//! The LDIF source and the entry decoder against the fixture directory
//! (`fixtures/directory/{ad-dump,contoso}.ldif` and `expected.json`), the
//! malformed cases in `tests/data/`, and a generated stream far larger than
//! the reader's buffer.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use certferry_export::decode::{decode_entry, guid_string, sid_string, DecodedEntry};
use certferry_export::source::ldif::LdifSource;
use certferry_export::source::{DirectorySource, RawEntry, SourceError};
use certferry_format::ids::Sha256;
use certferry_format::model::{Attribute, ObjectKind};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/directory").join(name)
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read_all(src: &mut impl DirectorySource) -> Result<Vec<RawEntry>, SourceError> {
    let mut out = Vec::new();
    while let Some(e) = src.next_entry()? {
        out.push(e);
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<RawEntry>, SourceError> {
    read_all(&mut LdifSource::open(path)?)
}

fn read_bytes(bytes: &[u8], name: &str) -> Result<Vec<RawEntry>, SourceError> {
    read_all(&mut LdifSource::new(bytes, name.to_owned()))
}

fn expected() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["entries"].as_array().unwrap().clone()
}

fn opt_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Compares one decoded entry with its expected.json object, field by field.
fn assert_matches_expected(d: &DecodedEntry, exp: &Value, exact_dn: bool) {
    let key = exp["key"].as_str().unwrap();
    let e = &d.entry;
    let kind = match e.kind {
        ObjectKind::User => "user",
        ObjectKind::Contact => "contact",
    };
    assert_eq!(kind, exp["kind"].as_str().unwrap(), "{key}: kind");
    let guid = exp["objectGUID"].as_str().map(|g| {
        g.trim_matches(|c| c == '{' || c == '}')
            .to_ascii_lowercase()
    });
    assert_eq!(e.object_guid, guid, "{key}: objectGUID");
    assert_eq!(e.object_sid, opt_str(&exp["objectSid"]), "{key}: objectSid");
    assert_eq!(e.upn, opt_str(&exp["userPrincipalName"]), "{key}: UPN");
    assert_eq!(
        e.sam_account_name,
        opt_str(&exp["sAMAccountName"]),
        "{key}: sAMAccountName"
    );
    assert_eq!(e.mail, opt_str(&exp["mail"]), "{key}: mail");
    let proxies: Vec<String> = exp["proxyAddresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(e.proxy_addresses, proxies, "{key}: proxyAddresses");
    assert_eq!(
        e.display_name,
        opt_str(&exp["displayName"]),
        "{key}: displayName"
    );
    let want_dn = exp["dn"].as_str().unwrap();
    if exact_dn {
        assert_eq!(e.dn, want_dn, "{key}: dn");
    } else {
        assert!(e.dn.eq_ignore_ascii_case(want_dn), "{key}: dn {}", e.dn);
    }
    assert_eq!(
        e.disabled,
        exp["disabled"].as_bool().unwrap(),
        "{key}: disabled"
    );
    assert!(e.values.is_empty(), "{key}: entry.values must be empty");

    let certs = exp["certificates"].as_array().unwrap();
    assert_eq!(d.values.len(), certs.len(), "{key}: number of values");
    for (i, ((attribute, bytes), c)) in d.values.iter().zip(certs).enumerate() {
        assert_eq!(
            attribute.as_str(),
            c["attribute"].as_str().unwrap(),
            "{key}: value {i} attribute"
        );
        assert_eq!(
            bytes.len() as u64,
            c["length"].as_u64().unwrap(),
            "{key}: value {i} length"
        );
        assert_eq!(
            Sha256::digest(bytes).to_hex(),
            c["sha256"].as_str().unwrap(),
            "{key}: value {i} sha256"
        );
    }
}

/// Decodes every record of an LDIF file and checks it against
/// expected.json: each expected object is found exactly once, in order;
/// computers and non-person objects decode to `None`. DNs are compared
/// exactly for the fixture files and case-insensitively for server output
/// (slapd returns `cn=…,ou=Users`).
fn check_ldif(path: &Path, exact_dn: bool) {
    let file = path.display();
    let raws = read_file(path).unwrap();
    let expected = expected();
    let mut next = 0;
    for raw in raws {
        let dn = raw.dn.clone();
        let decoded = decode_entry(raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        let exp = expected
            .get(next)
            .filter(|x| x["dn"].as_str().unwrap().eq_ignore_ascii_case(&dn));
        match (decoded, exp) {
            (Some(d), Some(exp)) => {
                assert_matches_expected(&d, exp, exact_dn);
                next += 1;
            }
            (None, Some(exp)) => {
                assert_eq!(
                    exp["kind"].as_str().unwrap(),
                    "computer",
                    "{file}: {dn} decoded to None"
                );
                next += 1;
            }
            (Some(d), None) => panic!("{file}: unexpected entry {:?}", d.entry.dn),
            (None, None) => {} // domain, OUs, the reader account
        }
    }
    assert_eq!(
        next,
        expected.len(),
        "{file}: not every expected object was read"
    );
}

#[test]
fn ad_dump_decodes_every_object_as_expected_json_says() {
    check_ldif(&fixture("ad-dump.ldif"), true);
}

#[test]
fn contoso_ldif_decodes_every_object_as_expected_json_says() {
    check_ldif(&fixture("contoso.ldif"), true);
}

/// `tests/data/ldapsearch-paged.ldif` is what `ldapsearch -x -E pr=5/noprompt`
/// (without `-LLL`) printed for contoso.ldif loaded into the fixture slapd:
/// header comments, `# dn` comments, and after every page a trailer record
/// with `search:`, `result: 0 Success`, `control:` and `pagedresults:` lines.
#[test]
fn ldapsearch_paged_output_with_trailers_decodes_as_expected_json_says() {
    check_ldif(&data("ldapsearch-paged.ldif"), false);
}

/// `tests/data/ldapsearch-sizelimit.ldif` is `ldapsearch -z 3` output ending
/// in `result: 4 Size limit exceeded`: a truncated dump must not be exported.
#[test]
fn ldapsearch_size_limit_trailer_is_an_incomplete_dump_error() {
    let err = error_of(&data("ldapsearch-sizelimit.ldif"));
    assert_eq!(
        err,
        "ldapsearch-sizelimit.ldif line 31: ldapsearch reported \
         `result: 4 Size limit exceeded`: the dump is incomplete"
    );
}

#[test]
fn ad_dump_record_count_and_description() {
    let mut src = LdifSource::open(fixture("ad-dump.ldif")).unwrap();
    assert_eq!(src.description(), "LDIF file ad-dump.ldif");
    let raws = read_all(&mut src).unwrap();
    assert_eq!(raws.len(), 18);
    assert_eq!(src.lines_read(), 1059);
    // Ended: stays ended.
    assert!(src.next_entry().unwrap().is_none());
}

#[test]
fn computer_ws01_decodes_to_none() {
    let raws = read_file(&fixture("ad-dump.ldif")).unwrap();
    let ws01 = raws
        .into_iter()
        .find(|r| r.dn.starts_with("CN=WS01,"))
        .unwrap();
    assert!(!ws01.values("userCertificate").is_empty());
    assert_eq!(decode_entry(ws01).unwrap(), None);
}

#[test]
fn walter_base64_dn_decodes_to_utf8() {
    let raws = read_file(&fixture("ad-dump.ldif")).unwrap();
    let walter = raws
        .iter()
        .find(|r| r.text("sAMAccountName") == Some("walter"))
        .unwrap();
    assert_eq!(walter.dn, "CN=Walter Weiß,OU=Users,DC=contoso,DC=test");
    assert_eq!(walter.text("cn"), Some("Walter Weiß"));
}

#[test]
fn mixed_case_names_and_binary_option_are_normalised() {
    // contoso.ldif writes `userCertificate;binary`, ad-dump.ldif
    // `UserCertificate`/`usercertificate`: both land under `usercertificate`.
    for file in ["contoso.ldif", "ad-dump.ldif"] {
        let raws = read_file(&fixture(file)).unwrap();
        let alice = raws.iter().find(|r| r.dn.starts_with("CN=Alice")).unwrap();
        assert_eq!(alice.values("usercertificate").len(), 1, "{file}");
        assert!(alice
            .attributes
            .keys()
            .all(|k| !k.contains(';') && k.chars().all(|c| !c.is_ascii_uppercase())));
    }
}

#[test]
fn mallory_ascii_object_guid_is_sixteen_bytes() {
    let raws = read_file(&fixture("ad-dump.ldif")).unwrap();
    let mallory = raws
        .into_iter()
        .find(|r| r.dn.starts_with("CN=Mallory"))
        .unwrap();
    assert_eq!(
        mallory.values("objectGUID"),
        &[b"MalloryGUID-0001".to_vec()]
    );
    let d = decode_entry(mallory).unwrap().unwrap();
    assert_eq!(
        d.entry.object_guid.as_deref(),
        guid_string(b"MalloryGUID-0001").as_deref()
    );
    assert!(d.values.is_empty());
}

#[test]
fn crlf_input_reads_the_same_as_lf_input() {
    let lf = std::fs::read(fixture("ad-dump.ldif")).unwrap();
    assert!(!lf.contains(&b'\r'));
    let mut crlf = Vec::with_capacity(lf.len() + lf.len() / 40);
    for &b in &lf {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    let a = read_bytes(&lf, "lf.ldif").unwrap();
    let b = read_bytes(&crlf, "crlf.ldif").unwrap();
    assert_eq!(a.len(), 18);
    assert_eq!(a, b);
}

#[test]
fn ldifde_style_changetype_add_crlf_and_version_are_content() {
    let text =
        "version: 1\r\n\r\ndn: CN=A,OU=Users,DC=x\r\nchangetype: add\r\nobjectClass: top\r\n\
                objectClass: user\r\nsAMAccountName: a\r\nuserAccountControl: 66050\r\n\r\n";
    let raws = read_bytes(text.as_bytes(), "ldifde.ldif").unwrap();
    assert_eq!(raws.len(), 1);
    assert!(raws[0].values("changetype").is_empty());
    let d = decode_entry(raws[0].clone()).unwrap().unwrap();
    assert_eq!(d.entry.sam_account_name.as_deref(), Some("a"));
    assert!(d.entry.disabled);
}

#[test]
fn folded_comments_and_search_reference_comments_are_ignored() {
    let text = "# a long comment that is\n  folded onto a second line\n\
                # refldap://ForestDnsZones.x/DC=ForestDnsZones,DC=x\n\n\
                dn: CN=A,DC=x\n# comment inside a record\nobjectClass: user\n";
    let raws = read_bytes(text.as_bytes(), "c.ldif").unwrap();
    assert_eq!(raws.len(), 1);
    assert_eq!(raws[0].values("objectclass"), &[b"user".to_vec()]);
}

#[test]
fn many_blank_lines_between_records() {
    let text = "\n\n\ndn: CN=A,DC=x\ncn: a\n\n\n\n\ndn: CN=B,DC=x\ncn: b\n";
    let raws = read_bytes(text.as_bytes(), "b.ldif").unwrap();
    let dns: Vec<&str> = raws.iter().map(|r| r.dn.as_str()).collect();
    assert_eq!(dns, ["CN=A,DC=x", "CN=B,DC=x"]);
    assert_eq!(raws[1].values("cn"), &[b"b".to_vec()]);
}

#[test]
fn no_final_newline_is_a_truncated_file_error() {
    let text = "dn: CN=A,DC=x\ncn: a\n\ndn: CN=B,DC=x\ncn: b";
    let err = read_bytes(text.as_bytes(), "b.ldif")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("b.ldif line 5: the file ends in the middle of a line"),
        "{err}"
    );
}

#[test]
fn plain_value_leading_spaces_are_rfc2849_fill() {
    // RFC 2849: `value-spec = ":" FILL SAFE-STRING`, FILL = *SPACE, and a
    // SAFE-STRING cannot start with a space; a value with a leading space is
    // written base64. So every space after the colon is separator.
    let raws = read_bytes(b"dn: CN=A\ncn:   x\nsn:: IHk=\n", "s.ldif").unwrap();
    assert_eq!(raws[0].values("cn"), &[b"x".to_vec()]);
    assert_eq!(raws[0].values("sn"), &[b" y".to_vec()]);
}

fn error_of(path: &Path) -> String {
    match read_file(path) {
        Ok(v) => panic!(
            "{}: expected an error, read {} entries",
            path.display(),
            v.len()
        ),
        Err(e) => {
            assert!(matches!(e, SourceError::Ldif(_)), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn malformed_missing_colon_names_line_5() {
    let err = error_of(&data("missing-colon.ldif"));
    assert!(err.starts_with("missing-colon.ldif line 5: "), "{err}");
    assert!(err.contains("no colon"), "{err}");
}

#[test]
fn malformed_bad_base64_names_line_where_value_starts() {
    let err = error_of(&data("bad-base64.ldif"));
    assert!(err.starts_with("bad-base64.ldif line 6: "), "{err}");
    assert!(err.contains("userCertificate:: invalid base64"), "{err}");
}

#[test]
fn base64_without_padding_is_refused() {
    let err = read_bytes(b"dn: CN=A\ncn:: eA\n", "p.ldif")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("p.ldif line 2: cn:: invalid base64"),
        "{err}"
    );
    // Non-canonical trailing bits are refused too.
    assert!(read_bytes(b"dn: CN=A\ncn:: eB==\n", "p.ldif").is_err());
}

#[test]
fn malformed_continuation_before_any_record_names_line_2() {
    let err = error_of(&data("continuation-first.ldif"));
    assert!(err.starts_with("continuation-first.ldif line 2: "), "{err}");
    assert!(err.contains("continuation line"), "{err}");
}

#[test]
fn malformed_continuation_after_blank_line_names_its_line() {
    let err = error_of(&data("continuation-after-blank.ldif"));
    assert!(
        err.starts_with("continuation-after-blank.ldif line 5: "),
        "{err}"
    );
}

#[test]
fn changetype_delete_is_refused_naming_line_8() {
    let mut src = LdifSource::open(data("changetype-delete.ldif")).unwrap();
    // The changetype: add record before it is content.
    assert_eq!(src.next_entry().unwrap().unwrap().dn, "CN=A,DC=x");
    let err = src.next_entry().unwrap_err().to_string();
    assert!(err.starts_with("changetype-delete.ldif line 8: "), "{err}");
    assert!(err.contains("changetype: delete"), "{err}");
}

#[test]
fn file_url_value_is_refused_naming_line_3() {
    let err = error_of(&data("file-url.ldif"));
    assert!(err.starts_with("file-url.ldif line 3: "), "{err}");
    assert!(err.contains("file URLs are not supported"), "{err}");
    assert!(!err.contains("/etc/passwd"), "{err}");
}

#[test]
fn record_without_dn_names_line_3() {
    let err = error_of(&data("no-dn.ldif"));
    assert!(
        err.starts_with("no-dn.ldif line 3: record does not start with dn:"),
        "{err}"
    );
}

#[test]
fn open_missing_file_is_an_io_error() {
    let err = LdifSource::open(data("does-not-exist.ldif")).unwrap_err();
    assert!(matches!(err, SourceError::Io(_)), "{err:?}");
    assert!(err.to_string().contains("does-not-exist.ldif"));
}

#[test]
fn guid_and_sid_helpers_agree_with_expected_json() {
    use base64::Engine as _;
    let raws = read_file(&fixture("ad-dump.ldif")).unwrap();
    for exp in expected() {
        let dn = exp["dn"].as_str().unwrap();
        let raw = raws.iter().find(|r| r.dn == dn).unwrap();
        let guid_bytes = base64::engine::general_purpose::STANDARD
            .decode(exp["objectGUID_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            raw.values("objectguid"),
            std::slice::from_ref(&guid_bytes),
            "{dn}"
        );
        let want = exp["objectGUID"].as_str().unwrap();
        assert_eq!(
            format!("{{{}}}", guid_string(&guid_bytes).unwrap()),
            want.to_ascii_lowercase(),
            "{dn}"
        );
        let sid = raw.values("objectsid").first().and_then(|s| sid_string(s));
        assert_eq!(sid, opt_str(&exp["objectSid"]), "{dn}");
    }
}

/// Length of the fake certificate value in each generated record.
const CERT_LEN: u32 = 160;

/// A reader that synthesises LDIF records on the fly (never holding more than
/// one record) and counts the bytes handed out.
struct Generator {
    records: u64,
    next: u64,
    buf: Vec<u8>,
    pos: usize,
    produced: Rc<Cell<u64>>,
    /// Base64 of a fake certificate, folded, shared by every record.
    cert_lines: String,
}

impl Generator {
    fn new(records: u64, produced: Rc<Cell<u64>>) -> Self {
        use base64::Engine as _;
        let cert: Vec<u8> = (0..CERT_LEN).map(|i| (i * 7 % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&cert);
        // Fold at 76 columns like ldapsearch: first line after the
        // attribute name, then lines of one space plus 75 characters.
        let head = 76 - "userCertificate:: ".len();
        let mut cert_lines = format!("userCertificate:: {}\n", &b64[..head]);
        for chunk in b64.as_bytes()[head..].chunks(75) {
            cert_lines.push(' ');
            cert_lines.push_str(std::str::from_utf8(chunk).unwrap());
            cert_lines.push('\n');
        }
        Self {
            records,
            next: 0,
            buf: Vec::new(),
            pos: 0,
            produced,
            cert_lines,
        }
    }

    fn fill(&mut self) {
        use std::fmt::Write as _;
        self.buf.clear();
        self.pos = 0;
        if self.next >= self.records {
            return;
        }
        let i = self.next;
        self.next += 1;
        let mut s = String::with_capacity(1200);
        let _ = write!(
            s,
            "dn: CN=User {i},OU=Users,DC=contoso,DC=test\nobjectClass: top\n\
             objectClass: user\nsAMAccountName: user{i}\nuserAccountControl: 512\n\
             mail: user{i}@contoso.test\n{}\n",
            self.cert_lines
        );
        if i.is_multiple_of(1000) {
            s.push_str("# a comment between records\n\n");
        }
        self.buf.extend_from_slice(s.as_bytes());
    }
}

impl Read for Generator {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.buf.len() {
            self.fill();
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.produced.set(self.produced.get() + n as u64);
        Ok(n)
    }
}

#[test]
fn generated_50k_records_stream_without_buffering_the_input() {
    // 200,000 records take about 6 s in a debug build; 50,000 show the same
    // bound (the input is over 100 times the buffer) in under 2 s.
    const RECORDS: u64 = 50_000;
    const BUFFER: usize = 64 * 1024;
    let produced = Rc::new(Cell::new(0u64));
    let generator = Generator::new(RECORDS, Rc::clone(&produced));
    let record_len = {
        let mut g = Generator::new(1, Rc::new(Cell::new(0)));
        let mut v = Vec::new();
        g.read_to_end(&mut v).unwrap();
        v.len() as u64
    };
    let mut src = LdifSource::new(
        BufReader::with_capacity(BUFFER, generator),
        "generated.ldif".to_owned(),
    );
    let expected_cert: Vec<u8> = (0..CERT_LEN).map(|i| (i * 7 % 251) as u8).collect();
    let mut count = 0u64;
    let mut max_ahead = 0u64;
    while let Some(raw) = src.next_entry().unwrap() {
        // Everything the reader has pulled from the generator beyond the
        // records already returned fits in the buffer plus one record: the
        // input is never buffered as a whole.
        let consumed_records = (count + 1) * record_len;
        let ahead = produced.get().saturating_sub(consumed_records);
        max_ahead = max_ahead.max(ahead);
        assert!(
            ahead <= (BUFFER as u64) + 2 * record_len,
            "record {count}: read {} bytes ahead",
            ahead
        );
        if count.is_multiple_of(10_000) {
            assert_eq!(
                raw.dn,
                format!("CN=User {count},OU=Users,DC=contoso,DC=test")
            );
            let d = decode_entry(raw).unwrap().unwrap();
            assert_eq!(
                d.values,
                vec![(Attribute::UserCertificate, expected_cert.clone())]
            );
        }
        count += 1;
    }
    assert_eq!(count, RECORDS);
    assert!(
        produced.get() > 100 * (BUFFER as u64),
        "the stream is large"
    );
    assert!(max_ahead <= (BUFFER as u64) + 2 * record_len);
}

#[test]
fn truncated_and_corrupted_input_never_panics() {
    let original = std::fs::read(fixture("ad-dump.ldif")).unwrap();
    let mut cases = 0;
    for cut in (0..original.len()).step_by(701) {
        // Truncation at an arbitrary byte, then the same with one byte
        // replaced by each of a few troublesome values.
        let truncated = &original[..cut];
        let _ = read_bytes(truncated, "cut.ldif").map(|v| {
            v.into_iter().map(decode_entry).for_each(drop);
        });
        for b in [b'\n', b' ', b':', b'\r', 0xff, b'#', b'='] {
            let mut corrupt = original.clone();
            corrupt[cut] = b;
            if let Ok(v) = read_bytes(&corrupt, "corrupt.ldif") {
                v.into_iter().map(decode_entry).for_each(drop);
            }
            cases += 1;
        }
    }
    assert!(cases > 500);
}
