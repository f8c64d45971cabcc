//! Unit tests of `ldif.rs`.

use super::*;

fn read_all(text: &str) -> Result<Vec<RawEntry>, SourceError> {
    read_all_bytes(text.as_bytes())
}

fn read_all_bytes(bytes: &[u8]) -> Result<Vec<RawEntry>, SourceError> {
    let mut src = LdifSource::new(bytes, "t.ldif".to_owned());
    let mut out = Vec::new();
    while let Some(e) = src.next_entry()? {
        out.push(e);
    }
    Ok(out)
}

fn error_of(text: &str) -> String {
    error_of_bytes(text.as_bytes())
}

fn error_of_bytes(bytes: &[u8]) -> String {
    match read_all_bytes(bytes) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn split_line_forms() {
    assert_eq!(
        split_line(b"cn: x").unwrap(),
        ("cn", ValueSpec::Plain(b"x"))
    );
    assert_eq!(split_line(b"cn:x").unwrap(), ("cn", ValueSpec::Plain(b"x")));
    assert_eq!(
        split_line(b"cn::  eA== ").unwrap(),
        ("cn", ValueSpec::Base64(b"eA=="))
    );
    assert_eq!(
        split_line(b"userCertificate;binary:: eA==").unwrap(),
        ("userCertificate;binary", ValueSpec::Base64(b"eA=="))
    );
    assert_eq!(split_line(b"cn:< file:///x").unwrap().1, ValueSpec::Url);
    assert_eq!(split_line(b"cn:").unwrap(), ("cn", ValueSpec::Plain(b"")));
    assert!(split_line(b"no colon here").is_err());
    assert!(split_line(b": value").is_err());
    assert!(split_line(b"bad name: value").is_err());
    assert!(split_line(b";opt: value").is_err());
}

#[test]
fn plain_value_leading_spaces_are_fill_trailing_spaces_are_value() {
    let e = read_all("dn: cn=a\ncn:   x y \n").unwrap();
    assert_eq!(e[0].values("cn"), &[b"x y ".to_vec()]);
}

#[test]
fn folding_removes_exactly_one_space() {
    let e = read_all("dn: cn=a\ndescription: ab\n  cd\n e\n").unwrap();
    assert_eq!(e[0].values("description"), &[b"ab cde".to_vec()]);
}

#[test]
fn empty_base64_value_is_empty() {
    let e = read_all("dn: cn=a\nx::\n").unwrap();
    assert_eq!(e[0].values("x"), &[Vec::<u8>::new()]);
}

#[test]
fn version_line_with_and_without_blank_line() {
    assert_eq!(read_all("version: 1\ndn: cn=a\ncn: a\n").unwrap().len(), 1);
    assert_eq!(read_all("version: 1\n\n\ndn: cn=a\n\n").unwrap().len(), 1);
    assert!(error_of("version: 2\n\ndn: cn=a\n").contains("t.ldif line 1:"));
}

#[test]
fn version_after_first_record_is_not_a_version_line() {
    let err = error_of("dn: cn=a\n\nversion: 1\ndn: cn=b\n");
    assert!(
        err.starts_with("t.ldif line 3: record does not start with dn:"),
        "{err}"
    );
}

#[test]
fn utf8_bom_is_skipped_and_utf16_refused() {
    assert_eq!(read_all("\u{feff}dn: cn=a\n\n").unwrap()[0].dn, "cn=a");
    let mut src = LdifSource::new(&b"\xff\xfed\x00n\x00\n\x00"[..], "u.ldif".to_owned());
    let err = src.next_entry().unwrap_err().to_string();
    assert!(err.contains("UTF-16"), "{err}");
}

#[test]
fn second_dn_in_one_record_is_an_error() {
    let err = error_of("dn: cn=a\ncn: a\ndn: cn=b\n");
    assert!(err.starts_with("t.ldif line 3: a second dn:"), "{err}");
}

#[test]
fn ldapsearch_trailer_and_reference_records_are_skipped() {
    let text = "version: 1\n\n# search reference\nref: ldap://x/DC=x\n\n\
                dn: cn=a\ncn: a\n\n# search result\nsearch: 2\nresult: 0 Success\n\
                control: 1.2.840.113556.1.4.319 false MAkCAQAEAA==\npagedresults: cookie=\n\n\
                # numResponses: 2\n";
    let e = read_all(text).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].dn, "cn=a");
}

#[test]
fn ldapsearch_nonzero_result_means_incomplete_dump() {
    let err = error_of("dn: cn=a\n\nsearch: 2\nresult: 4 Size limit exceeded\n");
    assert!(
        err.starts_with("t.ldif line 4: ldapsearch reported"),
        "{err}"
    );
    assert!(err.contains("incomplete"), "{err}");
}

#[test]
fn source_is_finished_after_an_error() {
    let mut src = LdifSource::new(&b"nodn: x\n\ndn: cn=b\n"[..], "t.ldif".to_owned());
    assert!(src.next_entry().is_err());
    assert!(src.next_entry().unwrap().is_none());
}

#[test]
fn a_last_line_without_line_break_is_truncation() {
    let err = error_of("dn: cn=a\nuserCertificate:: MIIB");
    assert!(
        err.starts_with("t.ldif line 2: the file ends in the middle of a line"),
        "{err}"
    );
    let err = error_of("dn: cn=a\ncn: a\n\ndn: cn=b");
    assert!(err.starts_with("t.ldif line 4:"), "{err}");
}

#[test]
fn a_record_cut_after_its_dn_line_is_truncation() {
    let err = error_of("dn: cn=a\ncn: a\n\ndn: cn=b\n");
    assert!(
        err.starts_with("t.ldif line 4: the file ends right after this dn: line"),
        "{err}"
    );
    // A record without attributes followed by its blank line is whole.
    assert_eq!(read_all("dn: cn=a\n\ndn: cn=b\ncn: b\n").unwrap().len(), 2);
}

#[test]
fn an_unencoded_binary_value_is_named_as_such() {
    let err = error_of_bytes(b"dn: cn=a\nuserCertificate: 0\x82\x01\x0a\x30\n\x82\x01\n");
    assert!(
        err.starts_with("t.ldif line 2: userCertificate: the value holds binary bytes"),
        "{err}"
    );
    let err = error_of_bytes(b"dn: cn=a\ncn: a\n\x82\x01\x00\n");
    assert!(
        err.contains("binary bytes where a line was expected"),
        "{err}"
    );
}

#[test]
fn continuation_on_the_first_line_of_the_file_is_an_error() {
    let err = error_of(" dn: cn=a\n");
    assert!(err.starts_with("t.ldif line 1: continuation line"), "{err}");
}

#[test]
fn dn_must_be_utf8_and_inline() {
    let mut src = LdifSource::new(&b"dn: cn=\xff\n"[..], "t.ldif".to_owned());
    let err = src.next_entry().unwrap_err().to_string();
    assert!(
        err.starts_with("t.ldif line 1: dn: the value holds binary bytes"),
        "{err}"
    );
    // base64 of the bytes 0xff 0xfe
    let err = error_of("dn:: //4=\n");
    assert_eq!(err, "t.ldif line 1: the DN is not valid UTF-8");
    let err = error_of("dn:< file:///x\n");
    assert!(err.contains("file URLs are not supported"), "{err}");
}

#[test]
fn changetype_modify_is_refused_and_add_is_not_stored() {
    let err = error_of("dn: cn=a\nchangetype: modify\nreplace: cn\ncn: b\n-\n");
    assert!(
        err.starts_with("t.ldif line 2: changetype: modify records are not supported"),
        "{err}"
    );
    let e = read_all("dn: cn=a\nchangetype: add\ncn: a\n").unwrap();
    assert_eq!(e[0].attributes.len(), 1);
}

#[test]
fn record_limit_counts_folded_lines_and_resets_per_record() {
    let folded = format!("dn: cn=a\ndescription: {}\n", "x\n ".repeat(100));
    let mut src =
        LdifSource::new(folded.as_bytes(), "t.ldif".to_owned()).with_max_record_bytes(200);
    let err = src.next_entry().unwrap_err().to_string();
    assert!(err.contains("record larger than 200 bytes"), "{err}");
    // Many small records, each under the limit, in a stream far over it.
    let many = "dn: cn=a\ncn: a\n\n".repeat(1000);
    let mut src = LdifSource::new(many.as_bytes(), "t.ldif".to_owned()).with_max_record_bytes(64);
    let mut n = 0;
    while src.next_entry().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 1000);
}

#[test]
fn record_size_is_bounded() {
    // A stream of 'a' bytes without a line break stops at the limit
    // instead of filling memory.
    let endless = io::repeat(b'a');
    let mut src = LdifSource::new(BufReader::new(endless), "big.ldif".to_owned())
        .with_max_record_bytes(1 << 20);
    let err = src.next_entry().unwrap_err().to_string();
    assert!(
        err.starts_with("big.ldif line 1: record larger than"),
        "{err}"
    );
}
