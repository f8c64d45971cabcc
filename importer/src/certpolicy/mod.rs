//! The importer's own certificate policy: it never trusts the exporter's judgement.
//!
//! Every certificate of a verified bundle is classified with the importer's
//! pinned CAs, the entry's SMTP addresses and the importer's clock, from the
//! decoding that verification made of the value's bytes (each certificate is
//! decoded once). The exporter's `class` and `reasons` are never read
//! (SPEC.md §6.4: they are informational).
//!
//! The policy runs while the bundle is verified: [`judge_bundle`] makes the
//! keeper handed to the verifier, so each entry is judged from the parse and
//! the decoding that verification made (on all cores), and only the verdict
//! is kept, spooled to disk part by part ([`judge_spooled`]). An
//! [`Evaluation`] can only be made by [`evaluate`] (or [`for_each_entry`])
//! from the resulting [`JudgedBundle`]; every type here has private fields,
//! so what the planner and the script writer consume is always the policy's
//! verdict on verified bytes.

use std::collections::BTreeMap;
use std::ops::Range;

use certferry_format::cert::chain::CaCertificate;
use certferry_format::cert::{
    self, CertClass, CertInfo, ClassifyContext, DecodedValue, KeyType, Reason, TrustedIssuer,
};
use certferry_format::model::BundleHeader;
use certferry_format::model::{Attribute, ObjectKind};
use certferry_format::pki::revocation::Status;
use certferry_format::{ParsedEntry, Timestamp, VerifiedPki};
use serde::Serialize;

mod codec;
mod evaluation;
mod judged;
mod spool;
mod trust;

pub use evaluation::{
    evaluate, for_each_entry, EntryEvaluation, Evaluation, EvaluationCounts, ValueEvaluation,
    ValueRef, ValuesNotKept,
};
pub use judged::{judge_bundle_file, judge_spooled, JudgeError, JudgedBundle, ValueError};
pub use spool::SpoolError;
use trust::BundleTrust;
pub use trust::{Revocation, RevocationPolicy};

/// What makes a certificate value acceptable.
#[derive(Debug, Clone)]
pub struct CertificatePolicy {
    /// Pinned CAs (trust anchors: roots, or issuing CAs pinned directly): a
    /// certificate must have a certification path to one of them.
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// Intermediate CA certificates that may help build such a path (never
    /// trusted for themselves; `certificates.intermediate_ca`).
    pub intermediates: Vec<CaCertificate>,
    /// Refuse certificates without the emailProtection extended key usage.
    pub require_email_protection: bool,
    /// Refuse certificates none of whose rfc822Name SANs is one of the entry's SMTP addresses.
    pub require_matching_address: bool,
    /// Refuse expired certificates.
    pub reject_expired: bool,
    /// Refuse certificates that are not valid yet.
    pub reject_not_yet_valid: bool,
    /// At most this many values of one attribute are published.
    pub max_values_per_attribute: usize,
    /// What happens to an attribute with more acceptable values than that.
    pub over_limit: OverLimit,
    /// Refuse RSA keys shorter than this many bits (`weak-rsa-key`).
    pub min_rsa_bits: u32,
    /// Refuse values that hold no certificate. When off, such values are
    /// passed on as opaque bytes (e.g. an Outlook-specific blob).
    pub reject_unparseable: bool,
    /// What an undetermined revocation status means (revoked and held
    /// certificates are always refused).
    pub revocation: RevocationPolicy,
}

/// What the policy does with an attribute that holds more acceptable values
/// than [`CertificatePolicy::max_values_per_attribute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// Publish the newest acceptable values (latest notBefore first; on a tie
    /// the one earlier in the bundle), refuse the rest as `over-limit` (the
    /// default). Entra Connect instead leaves the whole attribute out.
    Newest,
    /// Refuse the whole attribute (`too-many-values`), as Entra Connect does.
    RefuseAttribute,
}

impl OverLimit {
    /// The policy file's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "newest" => Some(Self::Newest),
            "refuse-attribute" => Some(Self::RefuseAttribute),
            _ => None,
        }
    }
}

impl CertificatePolicy {
    /// Exchange Online / Entra keep at most 15 values per certificate attribute.
    pub const DEFAULT_MAX_VALUES: usize = 15;

    /// RSA keys under 2048 bits are refused by default (NIST SP 800-131A
    /// disallows them for new signatures and key transport since 2014).
    pub const DEFAULT_MIN_RSA_BITS: u32 = 2048;

    /// True when the policy switches this classification reason off.
    fn ignores(&self, r: Reason) -> bool {
        match r {
            Reason::Expired => !self.reject_expired,
            Reason::NotYetValid => !self.reject_not_yet_valid,
            Reason::NoEmailProtection => !self.require_email_protection,
            Reason::NoMatchingAddress => !self.require_matching_address,
            // Pinned CAs, CA certificates and unusable key usages are always refused.
            _ => false,
        }
    }
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// A stable code: a SPEC.md §6.4 reason, or `unparseable`,
    /// `no-end-entity-certificate`, `too-many-values`, `duplicate-entry`.
    pub code: String,
    /// A sentence for people.
    pub text: String,
}

impl Refusal {
    /// A refusal with its code and sentence.
    pub fn new(code: &str, text: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            text: text.into(),
        }
    }
}

/// The certificate shown for a value (the accepted one, else the first end-entity one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    /// SHA-256 of the certificate's DER, hex.
    pub sha256: String,
    /// SHA-1 thumbprint (as Exchange shows it), uppercase hex.
    pub sha1: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// Start of validity, Unix seconds (orders renewals).
    #[serde(skip)]
    pub not_before_unix: i64,
}

/// One certificate of a value (a PKCS#7 container holds several: the
/// person's certificates and the chain), with its own verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainedCertificate {
    /// The certificate.
    #[serde(flatten)]
    pub summary: CertSummary,
    /// `accepted`, `refused`, or `ca` (a chain certificate, not published as such).
    pub verdict: &'static str,
    /// Why it is refused (empty unless `refused`).
    pub refusals: Vec<Refusal>,
    /// The certification path found: the subjects from its issuer up to the
    /// pinned CA (empty when there is none, and for chain certificates).
    pub chain: Vec<String>,
    /// The same path's CA certificates by SHA-256 (what a trust store needs).
    #[serde(skip)]
    pub chain_sha256: Vec<certferry_format::Sha256>,
    /// Its revocation status (`None` without a path to check it on, and for
    /// chain certificates).
    pub revocation: Option<Revocation>,
}

impl CertSummary {
    fn of(info: &CertInfo) -> Self {
        let t = |s: i64| Timestamp::from_unix(s).map_or_else(|| s.to_string(), |t| t.to_string());
        Self {
            sha256: info.sha256.to_hex(),
            sha1: info.sha1_hex().to_ascii_uppercase(),
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            serial: info.serial.clone(),
            not_before: t(info.not_before),
            not_after: t(info.not_after),
            not_before_unix: info.not_before,
        }
    }
}

/// The policy's verdict on one value, made while the bundle was verified.
#[derive(Debug, Clone)]
struct ValueVerdict {
    attribute: Attribute,
    file: String,
    sha256: String,
    /// Which of `certificates` the verdict is about (the accepted one, else
    /// the first refused end-entity certificate, else the first).
    shown: Option<usize>,
    certificates: Vec<ContainedCertificate>,
    refusals: Vec<Refusal>,
    /// Where the value's bytes are.
    bytes: ValueBytes,
}

/// Where a value's bytes are.
#[derive(Debug, Clone)]
enum ValueBytes {
    /// In the bundle file, which stays in memory.
    InBundle(Range<usize>),
    /// In the value spool: a snapshot in parts releases each part's bytes
    /// once it is verified, so the keeper copied them to disk.
    Spooled { offset: u64, len: u32 },
    /// In memory, read back from the value spool.
    Copied(Box<[u8]>),
    /// Not kept: the command does not write values.
    NotKept,
}

/// Whether a command writes values, so that a snapshot in parts must keep a
/// copy of each value's bytes (on disk) while its parts are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Keep them (`plan`, `apply`, `script`).
    Kept,
    /// The command only reports on them.
    NotNeeded,
}

impl ValueVerdict {
    fn accepted(&self) -> bool {
        self.refusals.is_empty()
    }

    /// The certificate the verdict is about.
    fn certificate(&self) -> Option<&CertSummary> {
        self.shown
            .and_then(|i| self.certificates.get(i))
            .map(|c| &c.summary)
    }

    /// Whether the certificate the verdict is about has a revocation status
    /// that no CRL decided.
    fn revocation_undetermined(&self) -> bool {
        let Some(shown) = self.certificate().map(|c| c.sha256.as_str()) else {
            return false;
        };
        self.certificates.iter().any(|c| {
            c.summary.sha256 == shown
                && c.revocation
                    .as_ref()
                    .is_some_and(|r| r.status == "undetermined")
        })
    }
}

/// The policy's verdict on one entry, made by [`judge`] while the bundle is
/// verified, from the entry and the decoding verification made of its
/// values. Private fields, no public constructor: [`evaluate`] reads it.
#[derive(Debug, Clone)]
pub struct EntryVerdict {
    key: String,
    kind: ObjectKind,
    label: String,
    dn: String,
    upn: Option<String>,
    mail: Option<String>,
    display_name: Option<String>,
    primary_smtp: Option<String>,
    addresses: Vec<String>,
    values: Vec<ValueVerdict>,
}

impl EntryVerdict {
    /// The revocation status the policy found for the certificate with this
    /// SHA-256 (hex) in this entry, if it could check one.
    pub fn revocation_of(&self, sha256: &str) -> Option<&Revocation> {
        self.values
            .iter()
            .flat_map(|v| &v.certificates)
            .find(|c| c.summary.sha256 == sha256)
            .and_then(|c| c.revocation.as_ref())
    }
}

/// A keeper made for one bundle by [`judge_bundle`].
pub type Keeper<'p> = Box<dyn Fn(ParsedEntry<'_>) -> EntryVerdict + Sync + 'p>;

/// The keeper maker for `verify_keeping_with`: from the bundle's header and
/// CA material it builds the helpers (the policy's intermediates and the
/// bundle's CA certificates, never anchors) and the CRL index once, then
/// judges each entry: pure, the same entry, policy, CA material and time
/// give the same verdict.
fn judge_bundle<'p>(
    policy: &'p CertificatePolicy,
    now: Timestamp,
    values: Option<&'p crate::value_spool::ValueSpoolWriter>,
) -> impl FnOnce(&BundleHeader, Option<&[VerifiedPki<'_>]>) -> Keeper<'p> + 'p {
    move |header, pki| {
        let judge = judging(policy, header, pki, now, values);
        Box::new(move |parsed| judge(&parsed))
    }
}

/// A keeper that judges each entry by reference, for callers that keep
/// more than the verdict (`archive`).
pub type RefKeeper<'p> = Box<dyn Fn(&ParsedEntry<'_>) -> EntryVerdict + Sync + 'p>;

/// [`judge_bundle`]'s judging for one bundle, at `now`, by reference; the
/// values' bytes are not kept for a part (`archive` does not write them).
pub fn judge_by_ref<'p>(
    policy: &'p CertificatePolicy,
    header: &BundleHeader,
    pki: Option<&[VerifiedPki<'_>]>,
    now: Timestamp,
) -> RefKeeper<'p> {
    judging(policy, header, pki, now, None)
}

/// [`judge_by_ref`], copying the values of a part to `values` if given.
fn judging<'p>(
    policy: &'p CertificatePolicy,
    header: &BundleHeader,
    pki: Option<&[VerifiedPki<'_>]>,
    now: Timestamp,
    values: Option<&'p crate::value_spool::ValueSpoolWriter>,
) -> RefKeeper<'p> {
    let trust = BundleTrust::of_bundle(policy, header, pki, now.unix());
    // A part's bytes are released once it is verified: copy what is needed.
    let keep = match (header.part.is_some(), values) {
        (false, _) => Keep::Range,
        (true, Some(spool)) => Keep::Spool(spool),
        (true, None) => Keep::Nothing,
    };
    Box::new(move |parsed| judge_entry(parsed, policy, &trust, now, keep))
}

/// What the keeper keeps of a value's bytes.
#[derive(Clone, Copy)]
enum Keep<'s> {
    /// Where they lie in the bundle file.
    Range,
    /// A copy in the value spool.
    Spool(&'s crate::value_spool::ValueSpoolWriter),
    /// Nothing.
    Nothing,
}

fn judge_entry(
    parsed: &ParsedEntry<'_>,
    policy: &CertificatePolicy,
    trust: &BundleTrust,
    now: Timestamp,
    keep: Keep<'_>,
) -> EntryVerdict {
    let e = parsed.entry();
    let addresses = e.smtp_addresses();
    let ctx = ClassifyContext {
        now: now.unix(),
        addresses: &addresses,
        trusted_issuers: Some(&policy.trusted_issuers),
        intermediates: &trust.helpers,
    };
    let mut per_attr: BTreeMap<Attribute, usize> = BTreeMap::new();
    for v in &e.values {
        *per_attr.entry(v.attribute).or_default() += 1;
    }
    let mut values = Vec::with_capacity(e.values.len());
    for v in parsed.values() {
        let record = v.record();
        let (shown, mut refusals, certificates) = match v.decoded() {
            None => (
                None,
                vec![Refusal::new(
                    "withheld-private-key",
                    "The exporter withheld this value because it holds private key material; only its length and SHA-256 crossed. Remove the key from the directory object.",
                )],
                Vec::new(),
            ),
            Some(decoded) => judge_value(v.bytes(), decoded, policy, trust, &ctx),
        };
        let n = per_attr.get(&record.attribute).copied().unwrap_or(0);
        if n > policy.max_values_per_attribute && policy.over_limit == OverLimit::RefuseAttribute {
            refusals.push(Refusal::new(
                "too-many-values",
                format!(
                    "{} has {n} values, more than the {} allowed; the whole attribute is refused",
                    record.attribute.as_str(),
                    policy.max_values_per_attribute
                ),
            ));
        }
        values.push(ValueVerdict {
            attribute: record.attribute,
            file: record.file.clone().unwrap_or_default(),
            sha256: v.sha256().to_hex(),
            shown,
            certificates,
            refusals,
            bytes: match keep {
                Keep::Range => ValueBytes::InBundle(v.range()),
                Keep::Spool(spool) => {
                    let (offset, len) = spool.put(v.bytes());
                    ValueBytes::Spooled { offset, len }
                }
                Keep::Nothing => ValueBytes::NotKept,
            },
        });
    }
    if policy.over_limit == OverLimit::Newest {
        keep_newest(&mut values, policy.max_values_per_attribute);
    }
    EntryVerdict {
        key: entry_key(e.object_guid.as_deref(), &e.dn),
        kind: e.kind,
        label: e.label().to_owned(),
        dn: e.dn.clone(),
        upn: e.upn.clone(),
        mail: e.mail.clone(),
        display_name: e.display_name.clone(),
        primary_smtp: primary_smtp(&e.proxy_addresses).or_else(|| e.mail.clone()),
        addresses,
        values,
    }
}

/// The key identifying an entry across bundles (objectGUID, else lowercased DN).
pub fn entry_key(object_guid: Option<&str>, dn: &str) -> String {
    match object_guid {
        Some(g) => g.to_owned(),
        None => dn.to_lowercase(),
    }
}

/// Per attribute, keeps the `max` newest accepted values (latest notBefore;
/// on a tie, bundle order) and refuses the others as `over-limit`.
fn keep_newest(values: &mut [ValueVerdict], max: usize) {
    for attr in Attribute::ALL {
        let mut accepted: Vec<usize> = (0..values.len())
            .filter(|&i| values[i].attribute == attr && values[i].accepted())
            .collect();
        if accepted.len() <= max {
            continue;
        }
        let born = |i: usize| {
            values[i]
                .certificate()
                .map_or(i64::MIN, |c| c.not_before_unix)
        };
        // Newest first; a stable sort keeps bundle order among equals.
        accepted.sort_by_key(|&i| std::cmp::Reverse(born(i)));
        let total = accepted.len();
        let oldest_kept = born(accepted[max - 1]);
        for &i in &accepted[max..] {
            let v = &mut values[i];
            let when = v
                .certificate()
                .map_or_else(|| "?".to_owned(), |c| c.not_before.clone());
            v.refusals.push(Refusal::new(
                "over-limit",
                format!(
                    "{} has {total} acceptable values and at most {max} are published: the newest {max} by notBefore are kept; this one (notBefore {when}) is older than the last one kept ({})",
                    attr.as_str(),
                    Timestamp::from_unix(oldest_kept).map_or_else(|| oldest_kept.to_string(), |t| t.to_string())
                ),
            ));
        }
    }
}

/// The refusal a revocation status calls for: revoked and held certificates
/// always, an undetermined status when the policy requires one.
fn revocation_refusal(status: &Status, policy: RevocationPolicy) -> Option<Refusal> {
    match status {
        Status::Good { .. } => None,
        Status::Revoked { .. } => Some(Refusal::new(
            "revoked",
            format!("The certificate is {status}."),
        )),
        Status::OnHold { .. } => Some(Refusal::new(
            "on-hold",
            format!("The certificate is {status}: not to be used while held."),
        )),
        Status::Undetermined { .. } => (policy == RevocationPolicy::Require).then(|| {
            Refusal::new(
                "revocation-undetermined",
                format!("The {status}; the policy requires a current CRL (certificates.revocation = \"require\")."),
            )
        }),
    }
}

fn primary_smtp(proxy: &[String]) -> Option<String> {
    proxy.iter().find_map(|p| {
        p.strip_prefix("SMTP:")
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
    })
}

/// One value (`bytes`, decoded by verification as `decoded`): accepted when
/// it holds an end-entity certificate that passes every enabled rule. Returns the certificate the verdict is about, the
/// refusals, and every certificate of the value with its own verdict.
fn judge_value(
    bytes: &[u8],
    decoded: &DecodedValue,
    policy: &CertificatePolicy,
    trust: &BundleTrust,
    ctx: &ClassifyContext<'_>,
) -> (Option<usize>, Vec<Refusal>, Vec<ContainedCertificate>) {
    if decoded.certificates.is_empty() {
        let why = decoded
            .problem
            .as_deref()
            .unwrap_or("the value holds no certificate");
        return if policy.reject_unparseable {
            (
                None,
                vec![Refusal::new(
                    "unparseable",
                    format!("The value holds no certificate: {why}."),
                )],
                Vec::new(),
            )
        } else {
            (None, Vec::new(), Vec::new())
        };
    }
    let mut all = Vec::with_capacity(decoded.certificates.len());
    // (index in `all`, is an encryption certificate)
    let mut accepted: Option<(usize, bool)> = None;
    let mut first_refused: Option<usize> = None;
    for c in &decoded.certificates {
        // A PKCS#7 value usually carries the chain too; the CA certificates in
        // it are not what is being published, the end-entity certificate is.
        if c.is_ca {
            all.push(ContainedCertificate {
                summary: CertSummary::of(c),
                verdict: "ca",
                refusals: Vec::new(),
                chain: Vec::new(),
                chain_sha256: Vec::new(),
                revocation: None,
            });
            continue;
        }
        let (class, path) = cert::classify_with_path(bytes, c, ctx);
        let mut refusals: Vec<Refusal> = class
            .reasons
            .iter()
            .filter(|r| !policy.ignores(**r))
            .map(|&r| match (r, &path) {
                // Say where the path broke: an expired intermediate, a name
                // without the key, a path length, or no issuer at all.
                (Reason::UntrustedIssuer, Some(Err(no))) => {
                    Refusal::new(r.as_str(), format!("{} Here: {no}.", r.description()))
                }
                _ => Refusal::new(r.as_str(), r.description()),
            })
            .collect();
        let (chain, chain_sha256, revocation) = match &path {
            Some(Ok(path)) => {
                let status = trust.status(policy, path, &c.serial, ctx.now);
                if let Some(refusal) = revocation_refusal(&status, policy.revocation) {
                    refusals.push(refusal);
                }
                let (names, ids) = trust.chain(policy, path);
                (names, ids, Some(Revocation::of(&status)))
            }
            _ => (Vec::new(), Vec::new(), None),
        };
        if c.key_type == KeyType::Rsa && c.key_bits < policy.min_rsa_bits {
            refusals.push(Refusal::new(
                "weak-rsa-key",
                format!(
                    "The RSA key has {} bits, fewer than the policy's minimum of {} (certificates.min_rsa_bits).",
                    c.key_bits, policy.min_rsa_bits
                ),
            ));
        }
        let i = all.len();
        if refusals.is_empty() {
            let encryption = class.class == CertClass::Encryption;
            match accepted {
                None => accepted = Some((i, encryption)),
                Some((_, false)) if encryption => accepted = Some((i, true)),
                Some(_) => {}
            }
        } else {
            first_refused.get_or_insert(i);
        }
        all.push(ContainedCertificate {
            summary: CertSummary::of(c),
            verdict: if refusals.is_empty() {
                "accepted"
            } else {
                "refused"
            },
            refusals,
            chain,
            chain_sha256,
            revocation,
        });
    }
    match (accepted, first_refused) {
        (Some((i, _)), _) => (Some(i), Vec::new(), all),
        (None, Some(i)) => (Some(i), all[i].refusals.clone(), all),
        (None, None) => (
            (!all.is_empty()).then_some(0),
            vec![Refusal::new(
                "no-end-entity-certificate",
                "The value holds only CA certificates, no certificate of a person.",
            )],
            all,
        ),
    }
}
