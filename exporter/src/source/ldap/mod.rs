//! LDAP source: reads users' (and contacts') certificates from Active Directory,
//! Samba AD or OpenLDAP over `ldaps://` or `ldap://` (+ StartTLS), with a paged
//! subtree search, streaming one entry at a time.
//!
//! Built on ldap3's asynchronous API driven by a private current-thread Tokio
//! runtime (the synchronous `EntryStream` borrows the connection, so range
//! retrieval could not issue its follow-up searches in the middle of a paged
//! search, and a struct could not hold both). Entries are decoded from the raw
//! BER here instead of through `SearchEntry::construct`, which panics on
//! malformed input, splits binary and UTF-8 values of one attribute into two
//! maps and reorders them: every value comes out as the exact bytes the server
//! sent, in the server's order.
//!
//! TLS is rustls (ring): the root store comes from the CA file, else
//! `LDAPTLS_CACERT` (like OpenLDAP's tools), else the system roots.
//!
//! The parts: [`url`], [`tls`], [`errors`], [`range`] (entry decoding and range
//! retrieval) and [`session`] (connect, bind, search: [`LdapSource`]).

use super::{ldap_panic, DirectorySource, RawEntry, Scope, SourceError};
use crate::secret::Secret;
use certferry_format::model::Attribute;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::asn1::{StructureTag, PL};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, SearchStream};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod errors;
mod range;
mod session;
mod tls;
mod url;

use errors::*;
use range::*;
#[cfg(test)]
use session::connect_tcp;
pub use session::LdapSource;
use tls::*;
use url::*;

/// The attributes requested for each object besides the certificate
/// attributes ([`requested_attributes`] adds those).
const OBJECT_ATTRIBUTES: &[&str] = &[
    "objectGUID",
    "objectSid",
    "userPrincipalName",
    "sAMAccountName",
    "mail",
    "proxyAddresses",
    "displayName",
    "userAccountControl",
    "objectClass",
    "distinguishedName",
];

/// The attributes requested for each object: [`OBJECT_ATTRIBUTES`] and every
/// certificate attribute of [`Attribute::ALL`]. `userCertificate;binary` is
/// asked for as well because OpenLDAP only hands certificate-syntax values
/// out under that name; AD and Samba return plain `userCertificate`.
pub fn requested_attributes() -> Vec<String> {
    OBJECT_ATTRIBUTES
        .iter()
        .copied()
        .chain(Attribute::ALL.iter().map(|a| a.as_str()))
        .chain(["userCertificate;binary"])
        .map(str::to_owned)
        .collect()
}

/// The default page size of the paged search.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// The largest page size (AD's MaxPageSize).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Bind {
    /// No bind at all (AD and Samba refuse anonymous searches).
    Anonymous,
    /// Simple bind. The name is passed to the server as given: a DN, a UPN
    /// (`admin@contoso.test`) or a down-level name (`CONTOSO\admin`).
    Simple {
        /// The bind name.
        name: String,
        /// The password (never printed).
        password: Secret,
    },
    /// SASL GSSAPI (Kerberos) with the caller's ticket cache (`kinit` first).
    /// The service principal is `ldap/<host of the URL>`, so use the server's
    /// DNS name, not an address.
    #[cfg(feature = "gssapi")]
    Gssapi,
}

impl Bind {
    fn who(&self) -> String {
        match self {
            Bind::Anonymous => "anonymous".to_owned(),
            Bind::Simple { name, .. } => name.clone(),
            #[cfg(feature = "gssapi")]
            Bind::Gssapi => "the Kerberos ticket holder (GSSAPI)".to_owned(),
        }
    }
}

/// Where and how to read.
#[derive(Debug, Clone)]
pub struct LdapOptions {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// StartTLS on an `ldap://` URL (`ldapsearch -Z`); refused with `ldaps://`.
    pub starttls: bool,
    /// PEM (or DER) CA certificates to trust. When `None`: the file named by
    /// `LDAPTLS_CACERT`, else the system roots.
    pub ca_file: Option<PathBuf>,
    /// How to authenticate.
    pub bind: Bind,
    /// The search base; `None` reads `defaultNamingContext` (or the first
    /// `namingContexts` value) from the RootDSE.
    pub base: Option<String>,
    /// Which objects to read.
    pub scope: Scope,
    /// Entries per page, 1..=1000.
    pub page_size: u32,
    /// Limit for TCP connect, TLS handshake and StartTLS together.
    pub connect_timeout: Duration,
    /// Limit for each operation (bind, each search reply).
    pub operation_timeout: Duration,
}

impl LdapOptions {
    /// Options with the defaults: no StartTLS, no CA file, anonymous, base from
    /// the RootDSE, users only, page size 500, 10 s connect, 120 s operations.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            starttls: false,
            ca_file: None,
            bind: Bind::Anonymous,
            base: None,
            scope: Scope::default(),
            page_size: DEFAULT_PAGE_SIZE,
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(120),
        }
    }
}

/// Builds the search filter for a scope (see the module documentation of the
/// exporter for why `objectCategory=person` is not used: slapd cannot do it).
pub fn build_filter(scope: &Scope) -> Result<String, SourceError> {
    let any_certificate: String = Attribute::ALL
        .iter()
        .map(|a| format!("({}=*)", a.as_str()))
        .collect();
    let has_cert = format!("(|{any_certificate})");
    let users = format!("(&(objectClass=user)(!(objectClass=computer)){has_cert})");
    let mut objects = if scope.contacts {
        format!("(|{users}(&(objectClass=contact){has_cert}))")
    } else {
        users
    };
    let mut parts = Vec::new();
    if !scope.include_disabled {
        parts.push("(!(userAccountControl:1.2.840.113556.1.4.803:=2))".to_owned());
    }
    if let Some(extra) = &scope.extra_filter {
        let extra = extra.trim();
        if !is_parenthesised(extra) {
            return Err(SourceError::Search(format!(
                "the extra LDAP filter {extra:?} must be enclosed in parentheses, e.g. (department=Sales)"
            )));
        }
        parts.push(extra.to_owned());
    }
    if !parts.is_empty() {
        objects = format!("(&{objects}{})", parts.concat());
    }
    Ok(objects)
}

/// True when `s` is one parenthesised expression: starts with `(`, ends with
/// the `)` that closes it (escaped parentheses in values are `\28`/`\29`).
fn is_parenthesised(s: &str) -> bool {
    if !s.starts_with('(') || !s.ends_with(')') {
        return false;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
                if depth == 0 && i != s.len() - 1 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = "(&(objectClass=user)(!(objectClass=computer))(|(userCertificate=*)(userSMIMECertificate=*)))";
    const CONTACTS: &str = "(&(objectClass=contact)(|(userCertificate=*)(userSMIMECertificate=*)))";
    const ENABLED: &str = "(!(userAccountControl:1.2.840.113556.1.4.803:=2))";

    fn scope(contacts: bool, include_disabled: bool, extra: Option<&str>) -> Scope {
        Scope {
            contacts,
            include_disabled,
            extra_filter: extra.map(str::to_owned),
        }
    }

    #[test]
    fn filter_default_is_enabled_users() {
        let f = build_filter(&Scope::default()).unwrap();
        assert_eq!(f, format!("(&{USERS}{ENABLED})"));
        assert!(ldap3::parse_filter(&f).is_ok());
    }

    #[test]
    fn filter_variants() {
        assert_eq!(build_filter(&scope(false, true, None)).unwrap(), USERS);
        assert_eq!(
            build_filter(&scope(true, true, None)).unwrap(),
            format!("(|{USERS}{CONTACTS})")
        );
        assert_eq!(
            build_filter(&scope(true, false, None)).unwrap(),
            format!("(&(|{USERS}{CONTACTS}){ENABLED})")
        );
        let f = build_filter(&scope(false, false, Some(" (department=Sales) "))).unwrap();
        assert_eq!(f, format!("(&{USERS}{ENABLED}(department=Sales))"));
        let f = build_filter(&scope(false, true, Some("(|(ou=A)(ou=B))"))).unwrap();
        assert_eq!(f, format!("(&{USERS}(|(ou=A)(ou=B)))"));
        for s in [
            &scope(true, false, Some("(cn=a\\29b)")),
            &scope(false, false, None),
        ] {
            assert!(ldap3::parse_filter(build_filter(s).unwrap()).is_ok());
        }
    }

    #[test]
    fn filter_extra_must_be_parenthesised() {
        for bad in [
            "department=Sales",
            "(a=b)(c=d)",
            "(a=b",
            "a=b)",
            ")(",
            "",
            "(a=b))(",
        ] {
            let err = build_filter(&scope(false, false, Some(bad))).unwrap_err();
            assert!(matches!(err, SourceError::Search(_)), "{bad}");
            assert!(err.to_string().contains("parentheses"), "{err}");
        }
    }

    #[test]
    fn connections_are_opened_with_nagle_off() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ldap://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = ServerUrl::parse(&url).unwrap();
        let rt = ldap3::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stream = rt
            .block_on(connect_tcp(&server, Duration::from_secs(5)))
            .unwrap();
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY is off");
    }

    #[test]
    fn url_parsing() {
        let u = ServerUrl::parse("ldaps://dc1.contoso.test").unwrap();
        assert_eq!(u.to_string(), "ldaps://dc1.contoso.test:636");
        let u = ServerUrl::parse("LDAP://127.0.0.1:3890/").unwrap();
        assert_eq!(u.to_string(), "ldap://127.0.0.1:3890");
        assert_eq!(
            ServerUrl::parse("ldap://[::1]:10389").unwrap().host,
            "[::1]"
        );
        assert_eq!(ServerUrl::parse("ldap://[::1]").unwrap().port, 389);
        for bad in [
            "http://x",
            "ldap://",
            "ldap://h:0",
            "ldap://h:x",
            "ldap://h/dc=x",
            "ldap://u@h",
            "ldaps://h:70000",
        ] {
            assert!(
                matches!(ServerUrl::parse(bad), Err(SourceError::Connect(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn options_are_checked_before_connecting() {
        let mut o = LdapOptions::new("ldaps://127.0.0.1:1");
        o.starttls = true;
        let e = LdapSource::connect(&o).unwrap_err();
        assert!(e.to_string().contains("StartTLS"), "{e}");
        for size in [0, 1001] {
            let mut o = LdapOptions::new("ldap://127.0.0.1:1");
            o.page_size = size;
            let e = LdapSource::connect(&o).unwrap_err();
            assert!(e.to_string().contains("page size"), "{e}");
        }
    }

    #[test]
    fn range_option_parsing() {
        assert_eq!(
            parse_range("member;range=0-1499"),
            Some(("member".into(), Some(1499)))
        );
        assert_eq!(
            parse_range("member;Range=1500-*"),
            Some(("member".into(), None))
        );
        assert_eq!(
            parse_range("userCertificate;binary;range=0-9"),
            Some(("userCertificate;binary".into(), Some(9)))
        );
        assert_eq!(
            parse_range("userCertificate;RANGE=0-9;binary"),
            Some(("userCertificate;binary".into(), Some(9)))
        );
        assert_eq!(parse_range("member"), None);
        assert_eq!(parse_range("member;binary"), None);
        assert_eq!(parse_range("member;x-range=0-1"), None);
        assert_eq!(parse_range("range=0-1"), None, "an attribute named range=…");
        assert_eq!(parse_range("member;range=x"), None);
        assert_eq!(parse_range("member;range=0-y"), None);
    }

    fn vals(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        range.map(|i| format!("v{i}").into_bytes()).collect()
    }

    #[test]
    fn ranged_attributes_are_fetched_and_merged_in_order() {
        let mut entry = RawEntry {
            dn: "CN=Big,DC=x".into(),
            ..RawEntry::default()
        };
        let pending = absorb(
            &mut entry,
            vec![
                ("mail".into(), vec![b"big@x".to_vec()]),
                ("userCertificate;range=0-2".into(), vals(0..3)),
                ("proxyAddresses;range=0-1".into(), vals(100..102)),
            ],
        );
        assert_eq!(pending.len(), 2);
        let mut requests = Vec::new();
        complete_ranges(&mut entry, pending, |req| {
            requests.push(req.to_owned());
            Ok(match req {
                "userCertificate;range=3-*" => {
                    vec![("userCertificate;range=3-5".into(), vals(3..6))]
                }
                "userCertificate;range=6-*" => {
                    vec![("userCertificate;range=6-*".into(), vals(6..8))]
                }
                "proxyAddresses;range=2-*" => {
                    vec![("proxyAddresses;range=2-*".into(), vals(102..103))]
                }
                other => panic!("unexpected request {other}"),
            })
        })
        .unwrap();
        assert_eq!(entry.values("usercertificate"), vals(0..8).as_slice());
        assert_eq!(entry.values("proxyAddresses"), vals(100..103).as_slice());
        assert_eq!(entry.values("mail"), &[b"big@x".to_vec()]);
        assert_eq!(
            requests,
            [
                "proxyAddresses;range=2-*",
                "userCertificate;range=3-*",
                "userCertificate;range=6-*"
            ]
        );
    }

    #[test]
    fn range_retrieval_errors() {
        let mut entry = RawEntry::default();
        let pending = absorb(&mut entry, vec![("member;range=0-1".into(), vals(0..2))]);
        let e = complete_ranges(&mut entry.clone(), pending.clone(), |_| Ok(vec![])).unwrap_err();
        assert!(e.to_string().contains("did not return"), "{e}");
        let e = complete_ranges(&mut entry, pending, |_| {
            Ok(vec![("member;range=0-1".into(), vec![])])
        })
        .unwrap_err();
        assert!(e.to_string().contains("no progress"), "{e}");
    }

    #[test]
    fn duplicate_descriptions_are_not_doubled() {
        let mut entry = RawEntry::default();
        let cert = vec![0x30, 0x82, 0x01];
        absorb(
            &mut entry,
            vec![
                ("userCertificate".into(), vec![cert.clone()]),
                ("userCertificate;binary".into(), vec![cert.clone()]),
                ("objectGUID".into(), vec![b"MalloryGUID-0001".to_vec()]),
            ],
        );
        assert_eq!(entry.values("userCertificate"), &[cert]);
        assert_eq!(entry.values("objectguid"), &[b"MalloryGUID-0001".to_vec()]);
    }

    #[test]
    fn decodes_raw_entries_byte_exact() {
        use ldap3::asn1::TagClass;
        let prim = |b: &[u8]| StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(b.to_vec()),
        };
        let cons = |id, v| StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(v),
        };
        // one value valid UTF-8, one not: both kept, in order, as bytes
        let attr = cons(
            16,
            vec![
                prim(b"userSMIMECertificate"),
                cons(17, vec![prim(b"ascii"), prim(&[0xff, 0x00])]),
            ],
        );
        let tag = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::C(vec![
                prim("cn=Walter Weiß,dc=x".as_bytes()),
                cons(16, vec![attr]),
            ]),
        };
        let (dn, attrs) = decode_entry(tag).unwrap();
        assert_eq!(dn, "cn=Walter Weiß,dc=x");
        assert_eq!(
            attrs,
            vec![(
                "userSMIMECertificate".to_owned(),
                vec![b"ascii".to_vec(), vec![0xff, 0x00]]
            )]
        );
        let bad = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(vec![]),
        };
        assert!(decode_entry(bad).is_err());
    }

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.to_owned(),
            refs: vec![],
            ctrls: vec![],
        }
    }

    #[test]
    fn result_messages() {
        let server = ServerUrl::parse("ldaps://dc1.contoso.test").unwrap();
        let m = search_result_error(&result(4, ""), &server, "DC=x", 1000).to_string();
        assert!(
            m.contains("sizeLimitExceeded after 1000 entries") && m.contains("page size"),
            "{m}"
        );
        assert!(m.contains("ldaps://dc1.contoso.test:636"), "{m}");
        let m = search_result_error(&result(32, ""), &server, "OU=No,DC=x", 0).to_string();
        assert!(m.contains("\"OU=No,DC=x\" does not exist"), "{m}");
        let ad = "00002028: LdapErr: DSID-0C090259, comment: The server requires binds to turn on integrity checking if SSL\\TLS are not already active on the connection, data 0, v4563\0";
        let clear = ServerUrl::parse("ldap://dc1.contoso.test").unwrap();
        let e = bind_error(&result(8, ad), "CONTOSO\\admin", &clear, false);
        assert!(matches!(e, SourceError::Bind(_)));
        let m = e.to_string();
        assert!(m.starts_with("bind as CONTOSO\\admin to ldap://dc1.contoso.test:389 refused: the server requires TLS or signing for simple binds: use ldaps:// or -Z (StartTLS)"), "{m}");
        assert!(!m.contains('\0') && !m.contains('\n'), "{m:?}");
        let m = bind_error(&result(49, "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563"), "a@b", &server, true).to_string();
        assert_eq!(
            m,
            "bind as a@b to ldaps://dc1.contoso.test:636 refused: invalid credentials"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(1_609_459_200), "2021-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400 + 3_661), "2000-02-29 01:01:01 UTC");
        assert_eq!(utc_date(2_398_377_599), "2045-12-31 23:59:59 UTC");
    }

    #[test]
    fn presented_names_are_plain() {
        assert_eq!(presented_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(presented_name("other"), "other");
    }

    #[test]
    fn ad_subcodes() {
        assert_eq!(
            ad_bind_subcode("80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563"),
            Some("invalid credentials")
        );
        assert_eq!(
            ad_bind_subcode("... data 775, v4563"),
            Some("account locked out")
        );
        assert_eq!(ad_bind_subcode("no code"), None);
    }
}
