//! Generates the test vectors of SPEC.md §11 into `format-spec/vectors/`.
//!
//! Deterministic: committed keys (`format-spec/vectors/keys/`), committed
//! certificates (`fixtures/pki/`), fixed times, and Ed25519's deterministic
//! signatures. `scripts/gen-vectors --check` regenerates into a temp folder and
//! compares bytes.
//!
//! Usage: `cargo run -p certferry-format --example gen_vectors -- OUT_DIR`

// A generator over its own, trusted output: a broken invariant should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use certferry_format::cert::{self, ClassifyContext, TrustedIssuer};
use certferry_format::keys::{PublicKey, SecretKey};
use certferry_format::layout;
use certferry_format::model::{Attribute, BundleHeader, Entry, ObjectKind, Software};
use certferry_format::pki::{PkiAttribute, PkiOrigin, PkiRecord};
use certferry_format::review_csv;
use certferry_format::signature::SignatureFile;
use certferry_format::{
    describe_value, BundleDigests, BundleWriter, HeaderDraft, Revision, Role, Sha256, SourceId,
    Timestamp,
};

#[path = "vectors/parts.rs"]
mod parts;
#[path = "vectors/pki.rs"]
mod pki;
#[path = "vectors/r14.rs"]
mod r14;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const NOW: &str = "2026-06-01T00:00:00Z";
const CREATED: &str = "2026-05-31T12:00:00Z";
const EXPIRES: &str = "2026-07-01T00:00:00Z";
const SOURCE: &str = "contoso-ad";
const SEQ: u64 = 42;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).expect("fixed timestamp literal")
}

fn prev_hash() -> Sha256 {
    Sha256::digest(b"certferry test vectors: the bundle before sequence 42")
}

struct Keys {
    exporter: SecretKey,
    reviewer: SecretKey,
    outsider: SecretKey,
}

impl Keys {
    fn load(dir: &Path) -> Res<Self> {
        let load = |n: &str| -> Res<SecretKey> {
            Ok(SecretKey::from_file_bytes(
                &std::fs::read(dir.join(format!("{n}.key")))?,
                None,
            )?)
        };
        Ok(Self {
            exporter: load("exporter")?,
            reviewer: load("reviewer")?,
            outsider: load("outsider")?,
        })
    }
}

/// One member of a bundle, for member-level mutations.
#[derive(Clone)]
struct Member {
    name: String,
    data: Vec<u8>,
}

/// Splits a bundle our writer produced (trusted input) into members.
fn split(zip: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut pos = 0;
    while zip[pos..pos + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let size = u32::from_le_bytes(zip[pos + 18..pos + 22].try_into().unwrap()) as usize;
        let nlen = u16::from_le_bytes(zip[pos + 26..pos + 28].try_into().unwrap()) as usize;
        let name = String::from_utf8(zip[pos + 30..pos + 30 + nlen].to_vec()).unwrap();
        let start = pos + 30 + nlen;
        out.push(Member {
            name,
            data: zip[start..start + size].to_vec(),
        });
        pos = start + size;
    }
    out
}

/// Knobs for emitting a zip that departs from the profile.
#[derive(Default, Clone)]
struct Emit {
    local_flags: u16,
    method: u16,
    local_extra: Vec<u8>,
    central_name_override: Option<(usize, String)>,
    external_attrs: Option<u32>,
    version_needed: Option<u16>,
    comment: Vec<u8>,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    bad_crc_member: Option<usize>,
    central_offset_override: Option<(usize, usize)>,
    force_zip64: bool,
    time: u16,
}

fn emit(members: &[Member], e: &Emit) -> Vec<u8> {
    let mut out = e.prefix.clone();
    let base = out.len();
    let mut central = Vec::new();
    let mut offsets = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let off = out.len() - base;
        offsets.push(off);
        let mut crc = crc32(&m.data);
        if e.bad_crc_member == Some(i) {
            crc ^= 1;
        }
        let vn = e.version_needed.unwrap_or(10);
        let le16 = |v: u16| v.to_le_bytes();
        let le32 = |v: u32| v.to_le_bytes();
        out.extend(le32(0x0403_4b50));
        out.extend(le16(vn));
        out.extend(le16(e.local_flags));
        out.extend(le16(e.method));
        out.extend(le16(e.time));
        out.extend(le16(0x0021));
        out.extend(le32(crc));
        out.extend(le32(m.data.len() as u32));
        out.extend(le32(m.data.len() as u32));
        out.extend(le16(m.name.len() as u16));
        out.extend(le16(e.local_extra.len() as u16));
        out.extend(m.name.as_bytes());
        out.extend(&e.local_extra);
        out.extend(&m.data);

        let cname = match &e.central_name_override {
            Some((j, n)) if *j == i => n.clone(),
            _ => m.name.clone(),
        };
        let coff = match e.central_offset_override {
            Some((j, o)) if j == i => o,
            _ => off,
        };
        central.extend(le32(0x0201_4b50));
        central.extend(le16(0x030a));
        central.extend(le16(vn));
        central.extend(le16(e.local_flags));
        central.extend(le16(e.method));
        central.extend(le16(e.time));
        central.extend(le16(0x0021));
        central.extend(le32(crc));
        central.extend(le32(m.data.len() as u32));
        central.extend(le32(m.data.len() as u32));
        central.extend(le16(cname.len() as u16));
        central.extend(le16(0));
        central.extend(le16(0));
        central.extend(le16(0));
        central.extend(le16(0));
        central.extend(le32(e.external_attrs.unwrap_or(0o100_644 << 16)));
        central.extend(le32(coff as u32));
        central.extend(cname.as_bytes());
    }
    let cd_off = out.len() - base;
    out.extend(&central);
    let n = members.len();
    if e.force_zip64 {
        let rec = out.len() - base;
        out.extend(0x0606_4b50u32.to_le_bytes());
        out.extend(44u64.to_le_bytes());
        out.extend(10u16.to_le_bytes());
        out.extend(10u16.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((n as u64).to_le_bytes());
        out.extend((n as u64).to_le_bytes());
        out.extend((central.len() as u64).to_le_bytes());
        out.extend((cd_off as u64).to_le_bytes());
        out.extend(0x0706_4b50u32.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend((rec as u64).to_le_bytes());
        out.extend(1u32.to_le_bytes());
    }
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    let (cnt, size) = if e.force_zip64 {
        (0xffff, u32::MAX)
    } else {
        (n as u16, central.len() as u32)
    };
    out.extend(cnt.to_le_bytes());
    out.extend(cnt.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend((cd_off as u32).to_le_bytes());
    out.extend((e.comment.len() as u16).to_le_bytes());
    out.extend(&e.comment);
    out.extend(&e.suffix);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn member<'a>(ms: &'a mut [Member], name: &str) -> &'a mut Member {
    ms.iter_mut()
        .find(|m| m.name == name)
        .expect("member exists")
}

/// Recomputes review.csv (optionally), manifests and bag-info from the members,
/// as an attacker who controls everything but the keys would.
fn rehash(ms: &mut Vec<Member>, regen_review: bool) {
    let get = |ms: &Vec<Member>, n: &str| ms.iter().find(|m| m.name == n).map(|m| m.data.clone());
    if regen_review {
        let entries = get(ms, layout::ENTRIES_JSONL).unwrap_or_default();
        let mut review = Vec::new();
        review_csv::header_line(&mut review);
        for (i, line) in entries
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            if let Ok(e) = serde_json::from_slice::<Entry>(line) {
                review_csv::entry_rows(&mut review, i as u64 + 1, &e);
            }
        }
        if let Some(m) = ms.iter_mut().find(|m| m.name == layout::REVIEW_CSV) {
            m.data = review;
        }
    }
    let mut manifest = Vec::new();
    let mut bytes = 0u64;
    let mut files = 0u64;
    for m in ms.iter().filter(|m| m.name.starts_with("data/")) {
        layout::manifest_line(&mut manifest, &Sha256::digest(&m.data), &m.name);
        bytes += m.data.len() as u64;
        files += 1;
    }
    if let Some(m) = ms.iter_mut().find(|m| m.name == layout::MANIFEST) {
        m.data = manifest;
    }
    if let Some(json) = get(ms, layout::BUNDLE_JSON) {
        if let Ok(h) = serde_json::from_slice::<BundleHeader>(&json) {
            if let Some(m) = ms.iter_mut().find(|m| m.name == layout::BAG_INFO_TXT) {
                m.data = layout::bag_info(&h, bytes, files).into_bytes();
            }
        }
    }
    let mut tags = Vec::new();
    for n in [layout::BAGIT_TXT, layout::MANIFEST, layout::BAG_INFO_TXT] {
        if let Some(d) = get(ms, n) {
            layout::manifest_line(&mut tags, &Sha256::digest(&d), n);
        }
    }
    if let Some(m) = ms.iter_mut().find(|m| m.name == layout::TAG_MANIFEST) {
        m.data = tags;
    }
}

fn comment(role: Role, source: &str, seq: u64, sha: &Sha256) -> String {
    format!("certferry-bundle:v1 role={role} source={source} seq={seq} sha256={sha}")
}

fn sign_with(sk: &SecretKey, bundle: &[u8], comment: &str) -> Vec<u8> {
    let d = BundleDigests::of_bytes(bundle);
    SignatureFile::sign(sk, &d.blake2b, comment, "certferry test vector signature")
        .expect("sign")
        .to_bytes()
}

fn sign_as(sk: &SecretKey, role: Role, bundle: &[u8]) -> Vec<u8> {
    let d = BundleDigests::of_bytes(bundle);
    sign_with(sk, bundle, &comment(role, SOURCE, SEQ, &d.sha256))
}

/// The replay state a vector supplies.
struct Previous {
    sequence: u64,
    sha256: Sha256,
    created: Timestamp,
}

struct Vector {
    name: String,
    expect: String,
    comment: String,
    now: Timestamp,
    trusted: Vec<(Role, PublicKey)>,
    require: BTreeMap<Role, usize>,
    previous: Option<Previous>,
    max_jump: Option<u64>,
    accept_source: Option<String>,
    /// Revision 1.3 status vectors: pinned CAs (DER) and each entry's expected
    /// path and revocation status (SPEC.md §6.8, §11).
    anchors: Vec<Vec<u8>>,
    statuses: Vec<(usize, &'static str)>,
    signatures: Vec<(String, Vec<u8>)>,
    /// Revision 1.4 snapshots in parts: the part files beside the part
    /// index, which `bundle` then holds.
    parts: Vec<(String, Vec<u8>)>,
    bundle: Vec<u8>,
}

impl Vector {
    fn render(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut s = format!(
            "expect: {}\ncomment: {}\nnow: {}\n",
            self.expect, self.comment, self.now
        );
        for (role, pk) in &self.trusted {
            s += &format!("trusted: {role} {}\n", pk.to_base64());
        }
        for (role, n) in &self.require {
            s += &format!("require: {role} {n}\n");
        }
        if let Some(p) = &self.previous {
            s += &format!("previous: {} {} {}\n", p.sequence, p.sha256, p.created);
        }
        if let Some(j) = self.max_jump {
            s += &format!("max-jump: {j}\n");
        }
        if let Some(a) = &self.accept_source {
            s += &format!("accept-source: {a}\n");
        }
        for a in &self.anchors {
            s += &format!("anchor: {}\n", b64.encode(a));
        }
        for (entry, status) in &self.statuses {
            s += &format!("status: {entry} {status}\n");
        }
        for (label, sig) in &self.signatures {
            s += &format!("signature: {label} {}\n", b64.encode(sig));
        }
        for (name, part) in &self.parts {
            s += &format!("part: {name} {}\n", b64.encode(part));
        }
        s += "bundle:\n";
        let enc = b64.encode(&self.bundle);
        for chunk in enc.as_bytes().chunks(76) {
            s += std::str::from_utf8(chunk).expect("base64 is ASCII");
            s.push('\n');
        }
        s
    }
}

struct Gen {
    keys: Keys,
    base: Vec<u8>,
    base_members: Vec<Member>,
    empty: Vec<u8>,
    vectors: Vec<Vector>,
}

fn fixture(root: &Path, rel: &str) -> Res<Vec<u8>> {
    Ok(std::fs::read(root.join("fixtures/pki").join(rel))
        .map_err(|e| format!("fixtures/pki/{rel}: {e}"))?)
}

/// A fixture person: account name, display name, values, kind.
type Person<'a> = (&'a str, &'a str, Vec<(Attribute, Vec<u8>)>, ObjectKind);

fn build_bundle(root: &Path, with_entries: bool) -> Res<Vec<u8>> {
    let people: Vec<Person<'_>> = if with_entries {
        build_bundle_people(root)?
    } else {
        Vec::new()
    };
    build_from(root, people)
}

/// The four people of the base bundle.
fn build_bundle_people(root: &Path) -> Res<Vec<Person<'static>>> {
    Ok(vec![
        (
            "alice",
            "Alice Adams",
            vec![(
                Attribute::UserCertificate,
                fixture(root, "certs/alice.der")?,
            )],
            ObjectKind::User,
        ),
        (
            "bob",
            "Bob Brown",
            vec![(Attribute::UserCertificate, fixture(root, "certs/bob.der")?)],
            ObjectKind::User,
        ),
        (
            "heidi",
            "Heidi Hill",
            vec![(
                Attribute::UserSmimeCertificate,
                fixture(root, "smime/heidi.p7b")?,
            )],
            ObjectKind::User,
        ),
        (
            "partner",
            "Partner Contact",
            vec![(Attribute::UserCertificate, b"not a certificate".to_vec())],
            ObjectKind::Contact,
        ),
    ])
}

/// A bundle of `people`, written by the library's writer as the exporter would.
fn build_from(root: &Path, people: Vec<Person<'_>>) -> Res<Vec<u8>> {
    build_with_pki(root, people, None)
}

/// One CA object for [`build_with_pki`]: origin, location, attribute, bytes.
type PkiInput<'a> = (PkiOrigin, &'a str, Option<PkiAttribute>, Vec<u8>);

/// [`build_from`], carrying `pki` after the entries when it is `Some`, in
/// revision 1.3's forms (the vectors of 1.0 to 1.3 keep their bytes).
fn build_with_pki(
    root: &Path,
    people: Vec<Person<'_>>,
    pki: Option<&[PkiInput<'_>]>,
) -> Res<Vec<u8>> {
    build_as(root, people, pki, Revision::V1_3)
}

/// [`build_with_pki`] in the forms of `revision`.
fn build_as(
    root: &Path,
    people: Vec<Person<'_>>,
    pki: Option<&[PkiInput<'_>]>,
    revision: Revision,
) -> Res<Vec<u8>> {
    build_part(root, people, pki, revision, |d| d)
}

/// [`build_as`] with the header draft adjusted by `draft` (a part's number,
/// another creation time).
fn build_part(
    root: &Path,
    people: Vec<Person<'_>>,
    pki: Option<&[PkiInput<'_>]>,
    revision: Revision,
    draft: impl FnOnce(HeaderDraft) -> HeaderDraft,
) -> Res<Vec<u8>> {
    let now = ts(NOW).unix();
    let issuers = vec![TrustedIssuer::from_der(&fixture(
        root,
        "ca/issuing-ca.der",
    )?)?];
    let mut w = BundleWriter::with_revision(
        Cursor::new(Vec::new()),
        Cursor::new(Vec::new()),
        Cursor::new(Vec::new()),
        revision,
    )?;
    for (i, (who, name, values, kind)) in people.into_iter().enumerate() {
        let mail = format!("{who}@contoso.test");
        let mut entry = Entry {
            kind,
            object_guid: Some(format!("6f2d1b9a-0c3e-4d5f-8a7b-{:012x}", i + 1)),
            object_sid: (kind == ObjectKind::User)
                .then(|| format!("S-1-5-21-1004336348-1177238915-682003330-{}", 1100 + i)),
            upn: (kind == ObjectKind::User).then(|| mail.clone()),
            sam_account_name: (kind == ObjectKind::User).then(|| who.to_owned()),
            mail: Some(mail.clone()),
            proxy_addresses: vec![format!("SMTP:{mail}")],
            display_name: Some(name.to_owned()),
            dn: format!("CN={name},OU=Users,DC=contoso,DC=test"),
            disabled: false,
            values: Vec::new(),
        };
        let addrs = entry.smtp_addresses();
        let ctx = ClassifyContext {
            now,
            addresses: &addrs,
            trusted_issuers: Some(&issuers),
            intermediates: &[],
        };
        entry.values = values
            .iter()
            .map(|(a, v)| describe_value(*a, v, |val, c| cert::classify(val, c, &ctx)))
            .collect();
        let raw: Vec<&[u8]> = values.iter().map(|(_, v)| v.as_slice()).collect();
        w.add_entry(entry, &raw)?;
    }
    if let Some(objects) = pki {
        w.carry_pki();
        for (origin, location, attribute, bytes) in objects {
            let record = PkiRecord::describe(*origin, location, *attribute, bytes);
            w.add_pki(record, bytes)?;
        }
    }
    let (out, _) = w.finish(draft(HeaderDraft {
        source: SourceId::parse(SOURCE)?,
        sequence: SEQ,
        created: ts(CREATED),
        expires: ts(EXPIRES),
        previous_sha256: Some(prev_hash()),
        exporter: Software {
            name: "certferry-export".into(),
            version: "0.1.0".into(),
        },
        source_description: "ldaps://dc1.contoso.test/ DC=contoso,DC=test (test vector)".into(),
        part: None,
    }))?;
    Ok(out.into_inner())
}

impl Gen {
    fn exporter_pk(&self) -> PublicKey {
        self.keys.exporter.public_key()
    }
    fn reviewer_pk(&self) -> PublicKey {
        self.keys.reviewer.public_key()
    }

    /// A vector with the default policy (one exporter key required) and the
    /// bundle signed by the exporter.
    fn push(&mut self, name: &str, expect: &str, comment: &str, bundle: Vec<u8>) -> &mut Vector {
        let sig = sign_as(&self.keys.exporter, Role::Exporter, &bundle);
        self.vectors.push(Vector {
            name: name.into(),
            expect: expect.into(),
            comment: comment.into(),
            now: ts(NOW),
            trusted: vec![(Role::Exporter, self.exporter_pk())],
            require: BTreeMap::from([(Role::Exporter, 1)]),
            previous: None,
            max_jump: None,
            accept_source: None,
            anchors: Vec::new(),
            statuses: Vec::new(),
            signatures: vec![("bundle.zip.exporter.minisig".into(), sig)],
            parts: Vec::new(),
            bundle,
        });
        self.vectors.last_mut().expect("just pushed")
    }

    fn members(&self) -> Vec<Member> {
        self.base_members.clone()
    }

    /// Members → zip with the canonical emitter → exporter-signed vector.
    fn push_members(&mut self, name: &str, expect: &str, comment: &str, ms: &[Member], e: &Emit) {
        let bundle = emit(ms, e);
        self.push(name, expect, comment, bundle);
    }

    /// Edit a JSON-ish text member, then rehash everything, then sign.
    fn push_edit(
        &mut self,
        name: &str,
        expect: &str,
        comment: &str,
        target: &str,
        edit: impl Fn(&mut Vec<u8>),
        regen_review: bool,
    ) {
        let mut ms = self.members();
        edit(&mut member(&mut ms, target).data);
        rehash(&mut ms, regen_review);
        self.push_members(name, expect, comment, &ms, &Emit::default());
    }
}

fn replace(data: &mut Vec<u8>, from: &str, to: &str) {
    let s = String::from_utf8(data.clone()).expect("text member");
    assert!(s.contains(from), "{from:?} not found");
    *data = s.replacen(from, to, 1).into_bytes();
}

fn generate(root: &Path, out: &Path) -> Res<()> {
    let keys = Keys::load(&root.join("format-spec/vectors/keys"))?;
    let base = build_bundle(root, true)?;
    let empty = build_bundle(root, false)?;
    let base_members = split(&base);
    assert_eq!(
        emit(&base_members, &Emit::default()),
        base,
        "generator emitter must reproduce the writer's bytes"
    );
    let mut g = Gen {
        keys,
        base: base.clone(),
        base_members,
        empty: empty.clone(),
        vectors: Vec::new(),
    };
    let e = Emit::default();
    let b = base.clone();

    // --- valid bundles -------------------------------------------------------------
    g.push(
        "valid-basic",
        "success",
        "four entries (RSA, EC, PKCS#7, unparseable value) signed by the one required exporter key",
        b.clone(),
    );
    g.push(
        "valid-empty",
        "success",
        "a bundle with no entries is valid",
        empty.clone(),
    );
    {
        let rsig = sign_as(&g.keys.reviewer, Role::Reviewer, &b);
        let rpk = g.reviewer_pk();
        let v = g.push(
            "valid-exporter-and-reviewer",
            "success",
            "exporter and reviewer both required and both signed",
            b.clone(),
        );
        v.trusted.push((Role::Reviewer, rpk));
        v.require.insert(Role::Reviewer, 1);
        v.signatures
            .push(("bundle.zip.reviewer.minisig".into(), rsig));
    }
    {
        let osig = sign_as(&g.keys.outsider, Role::Exporter, &b);
        let v = g.push(
            "valid-extra-unknown-signature",
            "success",
            "a signature by a key outside the policy is ignored, not fatal",
            b.clone(),
        );
        v.signatures
            .push(("bundle.zip.outsider.minisig".into(), osig));
    }
    {
        let v = g.push(
            "valid-next-in-chain",
            "success",
            "sequence 42 after 41, previous_sha256 names bundle 41",
            b.clone(),
        );
        v.previous = Some(Previous {
            sequence: 41,
            sha256: prev_hash(),
            created: ts("2026-05-30T12:00:00Z"),
        });
    }
    {
        let v = g.push(
            "valid-gap-within-jump",
            "success",
            "sequence 42 after 40: a gap within max-jump, the chain cannot be checked",
            b.clone(),
        );
        v.previous = Some(Previous {
            sequence: 40,
            sha256: Sha256::digest(b"forty"),
            created: ts("2026-05-29T12:00:00Z"),
        });
    }

    // --- 1 forgery and tampering ----------------------------------------------------
    {
        let mut t = b.clone();
        let at = t.len() / 2;
        t[at] ^= 0x01;
        let sig = sign_as(&g.keys.exporter, Role::Exporter, &b);
        let v = g.push(
            "tampered-one-bit",
            "signature-invalid",
            "one bit of the bundle flipped after signing",
            t,
        );
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), sig)];
    }
    {
        let mut t = b.clone();
        t.push(0);
        let sig = sign_as(&g.keys.exporter, Role::Exporter, &b);
        let v = g.push(
            "tampered-appended-byte",
            "signature-invalid",
            "a byte appended after signing: signatures are checked before the zip",
            t,
        );
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), sig)];
    }
    {
        let sig = sign_as(&g.keys.outsider, Role::Exporter, &b);
        let v = g.push(
            "forged-untrusted-key",
            "threshold-not-met",
            "signed only by a key the policy does not trust",
            b.clone(),
        );
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), sig)];
    }
    {
        let v = g.push(
            "no-signature",
            "threshold-not-met",
            "no signature file at all",
            b.clone(),
        );
        v.signatures.clear();
    }
    {
        let mut sig = String::from_utf8(sign_as(&g.keys.exporter, Role::Exporter, &b))?;
        // Swap the global signature for one made over another comment.
        let other = String::from_utf8(sign_with(
            &g.keys.exporter,
            &b,
            &comment(
                Role::Exporter,
                SOURCE,
                SEQ + 1,
                &BundleDigests::of_bytes(&b).sha256,
            ),
        ))?;
        let mut lines: Vec<&str> = sig.lines().collect();
        let olines: Vec<&str> = other.lines().collect();
        lines[3] = olines[3];
        sig = lines.join("\n") + "\n";
        let v = g.push(
            "global-signature-swapped",
            "signature-invalid",
            "trusted comment kept but global signature taken from another comment",
            b.clone(),
        );
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), sig.into_bytes())];
    }
    {
        let sig = String::from_utf8(sign_as(&g.keys.exporter, Role::Exporter, &b))?;
        let forged = sig.replace(&format!("seq={SEQ}"), &format!("seq={}", SEQ + 100));
        let v = g.push(
            "trusted-comment-edited",
            "signature-invalid",
            "trusted comment edited after signing (global signature no longer matches)",
            b.clone(),
        );
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), forged.into_bytes())];
    }

    // --- 2 signature for another purpose or file ------------------------------------
    let sha = BundleDigests::of_bytes(&b).sha256;
    for (name, expect, why, c) in [
        (
            "comment-other-file-hash",
            "trusted-comment-mismatch",
            "valid signature whose trusted comment names another file's SHA-256",
            comment(
                Role::Exporter,
                SOURCE,
                SEQ,
                &Sha256::digest(b"another bundle"),
            ),
        ),
        (
            "comment-other-source",
            "trusted-comment-mismatch",
            "trusted comment names another source",
            comment(Role::Exporter, "fabrikam-ad", SEQ, &sha),
        ),
        (
            "comment-other-sequence",
            "trusted-comment-mismatch",
            "trusted comment names another sequence number",
            comment(Role::Exporter, SOURCE, SEQ + 1, &sha),
        ),
        (
            "comment-role-mismatch",
            "trusted-comment-mismatch",
            "exporter key signs claiming the reviewer role",
            comment(Role::Reviewer, SOURCE, SEQ, &sha),
        ),
        (
            "comment-minisign-default",
            "trusted-comment",
            "stock minisign default comment (timestamp/file) instead of the certferry grammar",
            "timestamp:1780000000\tfile:bundle.zip\thashed".replace('\t', " "),
        ),
        (
            "comment-duplicate-key",
            "trusted-comment",
            "a token repeated",
            format!("{} seq={SEQ}", comment(Role::Exporter, SOURCE, SEQ, &sha)),
        ),
        (
            "comment-reordered",
            "trusted-comment",
            "tokens out of order",
            format!("certferry-bundle:v1 source={SOURCE} role=exporter seq={SEQ} sha256={sha}"),
        ),
        (
            "comment-uppercase-hash",
            "trusted-comment",
            "non-canonical uppercase hex",
            comment(Role::Exporter, SOURCE, SEQ, &sha)
                .replace(&sha.to_hex(), &sha.to_hex().to_uppercase()),
        ),
        (
            "comment-leading-zero-seq",
            "trusted-comment",
            "sequence with a leading zero",
            comment(Role::Exporter, SOURCE, SEQ, &sha).replace("seq=42", "seq=042"),
        ),
        (
            "comment-double-space",
            "trusted-comment",
            "two spaces between tokens",
            comment(Role::Exporter, SOURCE, SEQ, &sha).replace(" role", "  role"),
        ),
        (
            "comment-future-version",
            "trusted-comment",
            "a v2 trusted comment is not guessed at",
            comment(Role::Exporter, SOURCE, SEQ, &sha).replace(":v1", ":v2"),
        ),
    ] {
        let sig = sign_with(&g.keys.exporter, &b, &c);
        let v = g.push(name, expect, why, b.clone());
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), sig)];
    }

    // --- 6 threshold inflation ------------------------------------------------------
    {
        let sig = sign_as(&g.keys.exporter, Role::Exporter, &b);
        let v = g.push(
            "threshold-duplicate-signature-files",
            "threshold-not-met",
            "two signature files by one key count once towards a threshold of two",
            b.clone(),
        );
        v.require.insert(Role::Exporter, 2);
        v.signatures
            .push(("bundle.zip.exporter.copy.minisig".into(), sig));
    }
    {
        let pk = g.exporter_pk();
        let v = g.push(
            "threshold-key-listed-twice",
            "threshold-not-met",
            "a key listed twice in the policy still counts once",
            b.clone(),
        );
        v.require.insert(Role::Exporter, 2);
        v.trusted.push((Role::Exporter, pk));
    }
    {
        let rpk = g.reviewer_pk();
        let v = g.push(
            "threshold-reviewer-missing",
            "threshold-not-met",
            "the policy requires a reviewer signature and there is none",
            b.clone(),
        );
        v.trusted.push((Role::Reviewer, rpk));
        v.require.insert(Role::Reviewer, 1);
    }

    // --- 7 downgrade and malformed signatures ----------------------------------------
    {
        let sig = String::from_utf8(sign_as(&g.keys.exporter, Role::Exporter, &b))?;
        let mut lines: Vec<String> = sig.lines().map(str::to_owned).collect();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut raw = b64.decode(&lines[1])?;
        raw[1] = b'd'; // "ED" -> "Ed": legacy, unhashed
        lines[1] = b64.encode(raw);
        let v = g.push(
            "signature-legacy-algorithm",
            "signature-algorithm",
            "legacy Ed (unhashed) algorithm is refused",
            b.clone(),
        );
        v.signatures = vec![(
            "bundle.zip.exporter.minisig".into(),
            (lines.join("\n") + "\n").into_bytes(),
        )];
    }
    {
        let sig =
            String::from_utf8(sign_as(&g.keys.exporter, Role::Exporter, &b))?.replace('\n', "\r\n");
        let v = g.push(
            "signature-crlf",
            "signature-malformed",
            "signature file with CRLF line ends",
            b.clone(),
        );
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), sig.into_bytes())];
    }
    {
        let sig = String::from_utf8(sign_as(&g.keys.exporter, Role::Exporter, &b))?;
        let mut lines: Vec<String> = sig.lines().map(str::to_owned).collect();
        lines[1].insert(10, '!');
        let v = g.push(
            "signature-bad-base64",
            "signature-malformed",
            "signature line is not base64",
            b.clone(),
        );
        v.signatures = vec![(
            "bundle.zip.exporter.minisig".into(),
            (lines.join("\n") + "\n").into_bytes(),
        )];
    }
    {
        let v = g.push(
            "signature-oversized",
            "size-limit",
            "a 20 KiB signature file is refused before parsing",
            b.clone(),
        );
        v.signatures = vec![("bundle.zip.exporter.minisig".into(), vec![b'A'; 20 * 1024])];
    }
    {
        let sig = sign_as(&g.keys.exporter, Role::Exporter, &b);
        let v = g.push(
            "signature-too-many-files",
            "size-limit",
            "17 signature files exceed the limit of 16",
            b.clone(),
        );
        v.signatures = (0..17)
            .map(|i| (format!("sig{i}.minisig"), sig.clone()))
            .collect();
    }

    // --- 3,4,5 replay, freeze, fast-forward ------------------------------------------
    let bsha = BundleDigests::of_bytes(&b).sha256;
    for (name, expect, why, prev, jump) in [
        (
            "replay-same-bundle",
            "replay",
            "the same bundle imported twice",
            Previous {
                sequence: SEQ,
                sha256: bsha,
                created: ts(CREATED),
            },
            None,
        ),
        (
            "replay-older-sequence",
            "replay",
            "sequence 42 after 50 was imported",
            Previous {
                sequence: 50,
                sha256: Sha256::digest(b"fifty"),
                created: ts("2026-05-01T00:00:00Z"),
            },
            None,
        ),
        (
            "fork-same-sequence-other-hash",
            "fork",
            "sequence 42 was imported before with another hash",
            Previous {
                sequence: SEQ,
                sha256: Sha256::digest(b"other 42"),
                created: ts(CREATED),
            },
            None,
        ),
        (
            "fast-forward",
            "fast-forward",
            "sequence jumps from 2 to 42 with max-jump 10",
            Previous {
                sequence: 2,
                sha256: Sha256::digest(b"two"),
                created: ts("2026-01-01T00:00:00Z"),
            },
            Some(10),
        ),
        (
            "stale-created-before-last",
            "stale",
            "created earlier than the last imported bundle",
            Previous {
                sequence: 41,
                sha256: prev_hash(),
                created: ts("2026-05-31T13:00:00Z"),
            },
            None,
        ),
        (
            "chain-mismatch",
            "chain-mismatch",
            "sequence 42 after 41 but previous_sha256 names another bundle",
            Previous {
                sequence: 41,
                sha256: Sha256::digest(b"the real 41"),
                created: ts("2026-05-30T00:00:00Z"),
            },
            None,
        ),
    ] {
        let v = g.push(name, expect, why, b.clone());
        v.previous = Some(prev);
        v.max_jump = jump;
    }
    {
        let v = g.push(
            "expired",
            "expired",
            "verified after the bundle's expiry",
            b.clone(),
        );
        v.now = ts("2026-07-01T00:00:01Z");
    }
    {
        let v = g.push(
            "not-yet-valid",
            "not-yet-valid",
            "created more than the allowed clock skew in the future",
            b.clone(),
        );
        v.now = ts("2026-05-31T11:54:59Z");
    }
    {
        let v = g.push(
            "source-not-accepted",
            "source-not-accepted",
            "the policy accepts only fabrikam-ad",
            b.clone(),
        );
        v.accept_source = Some("fabrikam-ad".into());
    }

    // --- 9, 10, 11 zip structure and names --------------------------------------------
    let ms = g.members();
    let mut prefixed = vec![b'X'; 16];
    prefixed.extend(&b);
    g.push(
        "zip-prefix-bytes",
        "zip-structure",
        "16 bytes before the first local header (a polyglot or self-extractor)",
        prefixed,
    );
    let mut suffixed = b.clone();
    suffixed.extend(b"trailing");
    g.push(
        "zip-trailing-bytes",
        "zip-structure",
        "bytes after the end of central directory record",
        suffixed,
    );
    g.push_members(
        "zip-comment",
        "zip-structure",
        "a zip comment",
        &ms,
        &Emit {
            comment: b"hi".to_vec(),
            ..e.clone()
        },
    );
    g.push_members(
        "zip-deflate-method",
        "zip-structure",
        "compression method 8 declared",
        &ms,
        &Emit {
            method: 8,
            ..e.clone()
        },
    );
    g.push_members(
        "zip-data-descriptor-flag",
        "zip-structure",
        "general purpose flag bit 3 (data descriptor)",
        &ms,
        &Emit {
            local_flags: 0x0008,
            ..e.clone()
        },
    );
    g.push_members(
        "zip-encrypted-flag",
        "zip-structure",
        "general purpose flag bit 0 (encryption)",
        &ms,
        &Emit {
            local_flags: 0x0001,
            ..e.clone()
        },
    );
    g.push_members(
        "zip-extra-field",
        "zip-structure",
        "an extended-timestamp extra field in every local header",
        &ms,
        &Emit {
            local_extra: vec![0x55, 0x54, 0x05, 0x00, 0x01, 0, 0, 0, 0],
            ..e.clone()
        },
    );
    g.push_members(
        "zip-symlink-attributes",
        "zip-structure",
        "external attributes mark members as symlinks",
        &ms,
        &Emit {
            external_attrs: Some(0o120_777 << 16),
            ..e.clone()
        },
    );
    g.push_members(
        "zip-version-needed-20",
        "zip-structure",
        "version needed 2.0 instead of 1.0",
        &ms,
        &Emit {
            version_needed: Some(20),
            ..e.clone()
        },
    );
    g.push_members(
        "zip-nonzero-time",
        "zip-structure",
        "a modification time other than 00:00",
        &ms,
        &Emit {
            time: 0x6000,
            ..e.clone()
        },
    );
    g.push_members(
        "zip-bad-crc",
        "zip-structure",
        "CRC-32 of one member wrong",
        &ms,
        &Emit {
            bad_crc_member: Some(1),
            ..e.clone()
        },
    );
    g.push_members("zip-central-name-differs", "zip-structure", "central directory names member 1 differently from its local header (APK bug 9950697 style)", &ms, &Emit { central_name_override: Some((1, "data/values/00000009.bin".into())), ..e.clone() });
    g.push_members(
        "zip-overlapping-entries",
        "zip-structure",
        "two central headers point at the same local header",
        &ms,
        &Emit {
            central_offset_override: Some((2, 0)),
            ..e.clone()
        },
    );
    g.push_members(
        "zip64-records-few-members",
        "zip-structure",
        "ZIP64 end records although there are fewer than 65536 members",
        &ms,
        &Emit {
            force_zip64: true,
            ..e.clone()
        },
    );
    {
        let mut two = b.clone();
        let tail = b[b.len() - 22..].to_vec();
        two.extend(&tail);
        g.push(
            "zip-two-end-records",
            "zip-structure",
            "a second end-of-central-directory record appended",
            two,
        );
    }
    for (name, why, bad) in [
        (
            "name-dot-dot",
            "zip slip: a name with ..",
            "data/../../etc/passwd",
        ),
        ("name-absolute", "an absolute name", "/etc/passwd"),
        (
            "name-backslash",
            "a name with a backslash",
            "data\\values\\00000001.bin",
        ),
        ("name-directory", "a directory entry", "data/"),
        ("name-drive-letter", "a Windows drive letter", "C:/x.bin"),
        (
            "name-unknown-file",
            "a file v1 does not define",
            "data/extra.txt",
        ),
    ] {
        let mut ms = g.members();
        ms.insert(
            1,
            Member {
                name: bad.into(),
                data: b"x".to_vec(),
            },
        );
        g.push_members(name, "zip-name", why, &ms, &e);
    }
    {
        let mut ms = g.members();
        let dup = ms[1].clone();
        ms.insert(2, dup);
        g.push_members(
            "name-duplicate",
            "zip-name",
            "the same member twice (CVE-2013-4787 style)",
            &ms,
            &e,
        );
    }

    // --- 12 mix-and-match, file set, manifests ----------------------------------------
    {
        let mut ms = g.members();
        ms[1].data[0] ^= 1;
        g.push_members(
            "manifest-hash-mismatch",
            "manifest",
            "a value changed without updating the manifest (signed afterwards)",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        member(&mut ms, layout::MANIFEST).data.extend(b"\n");
        g.push_members(
            "tag-manifest-mismatch",
            "tag-manifest",
            "manifest changed without updating the tag manifest",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        member(&mut ms, layout::BAGIT_TXT).data =
            b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n".to_vec();
        rehash(&mut ms, false);
        g.push_members(
            "bagit-old-version",
            "bagit",
            "bagit.txt declares BagIt 0.97",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        let m = member(&mut ms, layout::MANIFEST);
        m.data = String::from_utf8(m.data.clone())?
            .replace('\n', "\r\n")
            .into_bytes();
        rehash_tags_only(&mut ms);
        g.push_members(
            "manifest-crlf",
            "manifest",
            "manifest with CRLF line ends",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        let m = member(&mut ms, layout::MANIFEST);
        m.data = String::from_utf8(m.data.clone())?
            .to_uppercase()
            .replace("DATA/", "data/")
            .replace(".BIN", ".bin")
            .replace(".JSONL", ".jsonl")
            .replace(".CSV", ".csv")
            .replace(".JSON", ".json")
            .into_bytes();
        rehash_tags_only(&mut ms);
        g.push_members(
            "manifest-uppercase-hex",
            "manifest",
            "manifest digests in uppercase hex",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        let m = member(&mut ms, layout::TAG_MANIFEST);
        let mut d = vec![0xef, 0xbb, 0xbf];
        d.extend(&m.data);
        m.data = d;
        g.push_members(
            "tag-manifest-bom",
            "tag-manifest",
            "tag manifest starts with a byte order mark",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        let extra = Member {
            name: "data/values/00000005.bin".into(),
            data: b"smuggled".to_vec(),
        };
        ms.insert(5, extra);
        g.push_members(
            "file-set-extra-value",
            "file-set",
            "a value file the manifest does not list",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        ms.remove(2);
        g.push_members(
            "file-set-missing-value",
            "file-set",
            "a value file missing; the manifest still lists it",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        ms.swap(1, 2);
        g.push_members(
            "file-set-order",
            "file-set",
            "two value files swapped in the zip (manifest order is canonical)",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        let n = ms.len();
        ms.swap(n - 1, n - 2);
        g.push_members(
            "file-set-tag-files-swapped",
            "file-set",
            "bag-info.txt and tagmanifest-sha256.txt in the wrong order",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        let i = ms
            .iter()
            .position(|m| m.name == layout::REVIEW_CSV)
            .expect("review");
        ms.remove(i);
        g.push_members(
            "file-set-missing-review",
            "file-set",
            "review.csv removed",
            &ms,
            &e,
        );
    }
    {
        // Mix and match: a value from another bundle with everything rehashed.
        let mut ms = g.members();
        ms[2].data = ms[1].data.clone();
        rehash(&mut ms, false);
        g.push_members("mix-and-match-value", "content", "bob's value replaced by alice's certificate with manifests rehashed: the entry no longer describes its bytes", &ms, &e);
    }

    // --- 13 non-canonical text and content ----------------------------------------------
    g.push_edit(
        "json-whitespace",
        "content",
        "bundle.json pretty-printed",
        layout::BUNDLE_JSON,
        |d| replace(d, "\"version\":1", "\"version\": 1"),
        false,
    );
    g.push_edit(
        "json-bom",
        "content",
        "bundle.json starts with a byte order mark",
        layout::BUNDLE_JSON,
        |d| d.splice(0..0, [0xef, 0xbb, 0xbf]).for_each(drop),
        false,
    );
    g.push_edit(
        "json-crlf",
        "content",
        "bundle.json ends with CRLF",
        layout::BUNDLE_JSON,
        |d| {
            d.pop();
            d.extend(b"\r\n");
        },
        false,
    );
    g.push_edit(
        "json-unknown-member",
        "content",
        "bundle.json with an extra member",
        layout::BUNDLE_JSON,
        |d| replace(d, "\"version\":1,", "\"version\":1,\"x\":0,"),
        false,
    );
    g.push_edit(
        "json-duplicate-member",
        "content",
        "bundle.json with a repeated member",
        layout::BUNDLE_JSON,
        |d| replace(d, "\"version\":1,", "\"version\":1,\"version\":1,"),
        false,
    );
    g.push_edit(
        "json-escaped-slash",
        "content",
        "a \\/ escape where canonical JSON writes /",
        layout::BUNDLE_JSON,
        |d| replace(d, "ldaps://", "ldaps:\\/\\/"),
        false,
    );
    g.push_edit(
        "unsupported-version",
        "unsupported-version",
        "bundle.json says version 2",
        layout::BUNDLE_JSON,
        |d| replace(d, "\"version\":1", "\"version\":2"),
        false,
    );
    g.push_edit(
        "counts-mismatch",
        "content",
        "counts.entries claims one more entry",
        layout::BUNDLE_JSON,
        |d| replace(d, "\"entries\":4", "\"entries\":5"),
        false,
    );
    g.push_edit(
        "entry-subject-lie",
        "content",
        "an entry records another subject for its certificate",
        layout::ENTRIES_JSONL,
        |d| replace(d, "\"subject\":\"", "\"subject\":\"CN=Mallory,"),
        true,
    );
    g.push_edit(
        "entry-thumbprint-lie",
        "content",
        "an entry records another SHA-1 thumbprint",
        layout::ENTRIES_JSONL,
        |d| {
            let s = String::from_utf8(d.clone()).unwrap();
            let i = s.find("\"sha1\":\"").unwrap() + 8;
            d[i] = if d[i] == b'0' { b'1' } else { b'0' };
        },
        true,
    );
    g.push_edit(
        "entry-control-character",
        "content",
        "a display name with an ANSI escape sequence",
        layout::ENTRIES_JSONL,
        |d| replace(d, "Alice Adams", "Alice\\u001b[2JAdams"),
        true,
    );
    g.push_edit(
        "entry-unknown-class",
        "content",
        "a classification outside the v1 vocabulary",
        layout::ENTRIES_JSONL,
        |d| replace(d, "\"class\":\"encryption\"", "\"class\":\"trusted\""),
        true,
    );
    g.push_edit(
        "review-csv-divergent",
        "content",
        "review.csv shows something other than the entries",
        layout::REVIEW_CSV,
        |d| replace(d, "Alice Adams", "Alice Adamz"),
        false,
    );
    {
        let mut ms = g.members();
        replace(
            &mut member(&mut ms, layout::BAG_INFO_TXT).data,
            "Payload-Oxum: ",
            "Payload-Oxum: 1",
        );
        rehash_tags_only(&mut ms);
        g.push_members(
            "bag-info-wrong-oxum",
            "bagit",
            "bag-info.txt Payload-Oxum does not match the payload",
            &ms,
            &e,
        );
    }
    {
        let mut ms = g.members();
        let m = member(&mut ms, layout::BAG_INFO_TXT);
        m.data.extend(b"Contact-Name: Mallory\n");
        rehash_tags_only(&mut ms);
        g.push_members(
            "bag-info-extra-field",
            "bagit",
            "bag-info.txt with an extra field",
            &ms,
            &e,
        );
    }

    // --- 15 private key material ------------------------------------------------------
    {
        let mut ms = g.members();
        let pem = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n".to_vec();
        let i = ms
            .iter()
            .position(|m| m.name == "data/values/00000004.bin")
            .expect("value 4");
        ms[i].data = pem;
        rehash(&mut ms, false);
        g.push_members(
            "private-key-in-value",
            "private-key",
            "an unparseable value that is a PEM private key",
            &ms,
            &e,
        );
    }

    // --- 16 withheld private keys, PKCS#7 without certificates, RFC 5280 reasons, serials ----
    {
        let mallory = |values: Vec<(Attribute, Vec<u8>)>| -> Vec<Person<'static>> {
            vec![("mallory", "Mallory Mole", values, ObjectKind::User)]
        };
        let key = fixture(root, "hostile/key-pkcs8.pem")?;
        let alice = fixture(root, "certs/alice.der")?;
        let withheld = build_from(
            root,
            mallory(vec![
                (Attribute::UserCertificate, alice.clone()),
                (Attribute::UserCertificate, key.clone()),
                (
                    Attribute::UserSmimeCertificate,
                    fixture(root, "hostile/key-pkcs12.pfx")?,
                ),
            ]),
        )?;
        g.push(
            "withheld-private-key",
            "success",
            "two values holding private keys (PEM PKCS#8, PKCS#12) recorded as withheld: no file, only length and SHA-256",
            withheld.clone(),
        );
        let wm = split(&withheld);
        let edit = |g: &mut Gen, name: &str, expect: &str, comment: &str, from: &str, to: &str| {
            let mut ms = wm.clone();
            replace(&mut member(&mut ms, layout::ENTRIES_JSONL).data, from, to);
            rehash(&mut ms, true);
            g.push_members(name, expect, comment, &ms, &Emit::default());
        };
        let w = format!(
            "{{\"length\":{},\"sha256\":\"{}\"}}",
            key.len(),
            Sha256::digest(&key).to_hex()
        );
        edit(
            &mut g,
            "withheld-with-file",
            "content",
            "a withheld value that names a value file",
            "\"file\":null,\"container\":\"withheld-private-key\"",
            "\"file\":\"data/values/00000001.bin\",\"container\":\"withheld-private-key\"",
        );
        edit(
            &mut g,
            "withheld-without-record",
            "content",
            "container withheld-private-key without its withheld member",
            &format!(",\"withheld\":{w}"),
            "",
        );
        edit(
            &mut g,
            "withheld-length-zero",
            "content",
            "a withheld record of length 0",
            &format!("\"length\":{}", key.len()),
            "\"length\":0",
        );
        edit(
            &mut g,
            "withheld-other-container",
            "content",
            "a withheld record on a value recorded as unparseable",
            "\"file\":null,\"container\":\"withheld-private-key\"",
            "\"file\":null,\"container\":\"unparseable\"",
        );
        edit(
            &mut g,
            "withheld-record-on-a-certificate",
            "content",
            "a certificate value that also carries a withheld member",
            "]},{\"attribute\":\"userCertificate\",\"file\":null",
            &format!("],\"withheld\":{w}}},{{\"attribute\":\"userCertificate\",\"file\":null"),
        );
        edit(
            &mut g,
            "withheld-record-null",
            "content",
            "a certificate value with \"withheld\":null (absent members are not written as null)",
            "]},{\"attribute\":\"userCertificate\",\"file\":null",
            "],\"withheld\":null},{\"attribute\":\"userCertificate\",\"file\":null",
        );

        g.push(
            "pkcs7-without-certificates",
            "success",
            "a valid PKCS#7 SignedData holding no certificate: container pkcs7, no certificates, not counted as unparseable; review reason no-certificate",
            build_from(
                root,
                mallory(vec![(
                    Attribute::UserSmimeCertificate,
                    fixture(root, "smime/no-certificates.p7b")?,
                )]),
            )?,
        );
        let p7 = split(&build_from(
            root,
            mallory(vec![(
                Attribute::UserSmimeCertificate,
                fixture(root, "smime/no-certificates.p7b")?,
            )]),
        )?);
        {
            let mut ms = p7.clone();
            replace(
                &mut member(&mut ms, layout::BUNDLE_JSON).data,
                "\"unparseable_values\":0",
                "\"unparseable_values\":1",
            );
            rehash(&mut ms, false);
            g.push_members(
                "pkcs7-without-certificates-counted-unparseable",
                "content",
                "bundle.json counts a certificate-less PKCS#7 as unparseable",
                &ms,
                &Emit::default(),
            );
        }
        {
            let mut ms = p7;
            replace(
                &mut member(&mut ms, layout::ENTRIES_JSONL).data,
                "\"container\":\"pkcs7\"",
                "\"container\":\"unparseable\"",
            );
            rehash(&mut ms, true);
            g.push_members(
                "pkcs7-without-certificates-recorded-unparseable",
                "content",
                "a certificate-less PKCS#7 recorded as unparseable",
                &ms,
                &Emit::default(),
            );
        }

        for (name, file, comment) in [
            (
                "critical-unknown-extension",
                "hostile/critical-unknown-extension.der",
                "a certificate with an unrecognised critical extension, classified unusable (unsupported-critical-extension)",
            ),
            (
                "signature-algorithm-mismatch",
                "hostile/signature-algorithm-mismatch.der",
                "a certificate whose outer signatureAlgorithm differs from the TBS one, classified unusable (signature-algorithm-mismatch)",
            ),
            (
                "negative-serial",
                "hostile/negative-serial.der",
                "a certificate with serial -0x2A, recorded as \"-2a\"",
            ),
            (
                "twenty-octet-serial",
                "hostile/twenty-octet-serial.der",
                "a certificate with a 20-octet serial",
            ),
            (
                "high-bit-serial",
                "hostile/high-bit-serial.der",
                "serial 0x80 (DER 00 80): recorded as \"80\", no leading zero",
            ),
        ] {
            g.push(
                name,
                "success",
                comment,
                build_from(
                    root,
                    mallory(vec![(Attribute::UserCertificate, fixture(root, file)?)]),
                )?,
            );
        }
        let neg = split(&build_from(
            root,
            mallory(vec![(
                Attribute::UserCertificate,
                fixture(root, "hostile/negative-serial.der")?,
            )]),
        )?);
        let mut ms = neg;
        replace(
            &mut member(&mut ms, layout::ENTRIES_JSONL).data,
            "\"serial\":\"-2a\"",
            "\"serial\":\"d6\"",
        );
        rehash(&mut ms, true);
        g.push_members(
            "negative-serial-as-octets",
            "content",
            "serial -0x2A recorded as its two's-complement octets (d6), which read as another number",
            &ms,
            &Emit::default(),
        );
        let _ = alice;
    }

    // --- 17 revision 1.2: every point an independent implementer had to guess -------
    {
        let base = g.members();
        // An edit of one text member, then every manifest, review.csv (when asked)
        // and bag-info.txt made consistent again, then signed.
        let edited = |target: &str, from: &str, to: &str, review: bool| -> Vec<Member> {
            let mut ms = base.clone();
            replace(&mut member(&mut ms, target).data, from, to);
            rehash(&mut ms, review);
            ms
        };
        let plain = Emit::default();

        // Limits, exact at the limit and one byte over (§9).
        let json_len = member(&mut base.clone(), layout::BUNDLE_JSON).data.len();
        let desc = "ldaps://dc1.contoso.test/ DC=contoso,DC=test (test vector)";
        for (name, expect, size) in [
            ("bundle-json-at-limit", "success", 65_536usize),
            ("bundle-json-over-limit", "size-limit", 65_537),
        ] {
            let long = format!("{desc} {}", "x".repeat(size - json_len - 1));
            let ms = edited(layout::BUNDLE_JSON, desc, &long, false);
            g.push_members(
                name,
                expect,
                &format!("bundle.json of {size} bytes, its LF included (limit 65,536)"),
                &ms,
                &plain,
            );
        }
        let first_line = {
            let mut ms = base.clone();
            let e = &member(&mut ms, layout::ENTRIES_JSONL).data;
            e.iter().position(|&b| b == b'\n').expect("a line") + 1
        };
        for (name, expect, size) in [
            ("entry-line-at-limit", "success", 1_048_576usize),
            ("entry-line-over-limit", "size-limit", 1_048_577),
        ] {
            let old = "\"display_name\":\"Alice Adams\"";
            let long = format!(
                "\"display_name\":\"Alice Adams{}\"",
                "a".repeat(size - first_line)
            );
            let ms = edited(layout::ENTRIES_JSONL, old, &long, true);
            g.push_members(
                name,
                expect,
                &format!(
                    "an entries.jsonl line of {size} bytes, its LF included (limit 1,048,576)"
                ),
                &ms,
                &plain,
            );
        }

        // §6.1: contacts are never disabled; an entry holds at least one value.
        let contact_false = "\"display_name\":\"Partner Contact\",\"dn\":\"CN=Partner Contact,OU=Users,DC=contoso,DC=test\",\"disabled\":false";
        let ms = edited(
            layout::ENTRIES_JSONL,
            contact_false,
            &contact_false.replace("false", "true"),
            true,
        );
        g.push_members(
            "contact-disabled",
            "content",
            "a contact with \"disabled\":true",
            &ms,
            &plain,
        );
        {
            let only_alice = build_from(
                root,
                vec![(
                    "alice",
                    "Alice Adams",
                    vec![(
                        Attribute::UserCertificate,
                        fixture(root, "certs/alice.der")?,
                    )],
                    ObjectKind::User,
                )],
            )?;
            let mut ms = split(&only_alice);
            // A second, valueless entry line; counts say 2 entries.
            let e = member(&mut ms, layout::ENTRIES_JSONL);
            let line = String::from_utf8(e.data.clone()).expect("text");
            let start = line.find("\"values\":").expect("values");
            let empty = format!("{}\"values\":[]}}\n", &line[..start]).replace("alice", "nobody");
            e.data.extend_from_slice(empty.as_bytes());
            replace(
                &mut member(&mut ms, layout::BUNDLE_JSON).data,
                "\"entries\":1",
                "\"entries\":2",
            );
            rehash(&mut ms, true);
            g.push_members(
                "entry-without-values",
                "content",
                "an entry with \"values\":[] (objects without a value are not exported)",
                &ms,
                &plain,
            );
        }

        // §6.3: the 64-certificate limit makes a value unparseable, not the bundle invalid.
        let alice_der = fixture(root, "certs/alice.der")?;
        let p7 = |n: usize| -> Vec<u8> { pkcs7_of(&vec![alice_der.clone(); n]) };
        let one = |bytes: Vec<u8>| -> Vec<Person<'static>> {
            vec![(
                "mallory",
                "Mallory Mole",
                vec![(Attribute::UserSmimeCertificate, bytes)],
                ObjectKind::User,
            )]
        };
        g.push(
            "pkcs7-64-certificates",
            "success",
            "a PKCS#7 with 64 certificates (the limit): container pkcs7, 64 certificate objects",
            build_from(root, one(p7(64)))?,
        );
        let over = build_from(root, one(p7(65)))?;
        g.push(
            "pkcs7-65-certificates-unparseable",
            "success",
            "a PKCS#7 with 65 certificates is recorded as unparseable",
            over.clone(),
        );
        {
            let mut ms = split(&over);
            let alice_rec = {
                let ok = split(&build_from(root, one(p7(1)))?);
                let e = String::from_utf8(ok[2].data.clone()).expect("text");
                let a = e.find("\"certificates\":[").expect("certs") + "\"certificates\":[".len();
                let b = e.rfind("]}]}").expect("end");
                e[a..b].to_owned()
            };
            let recs = vec![alice_rec; 65].join(",");
            replace(
                &mut member(&mut ms, layout::ENTRIES_JSONL).data,
                "\"container\":\"unparseable\",\"certificates\":[]",
                &format!("\"container\":\"pkcs7\",\"certificates\":[{recs}]"),
            );
            rehash(&mut ms, true);
            g.push_members(
                "pkcs7-65-certificates-recorded-pkcs7",
                "content",
                "a PKCS#7 with 65 certificates recorded as pkcs7 with all 65",
                &ms,
                &plain,
            );
        }
        let mut trailing = fixture(root, "smime/heidi.p7b")?;
        trailing.push(0);
        g.push(
            "pkcs7-trailing-bytes-unparseable",
            "success",
            "a PKCS#7 ContentInfo followed by one more byte is unparseable",
            build_from(root, one(trailing))?,
        );

        // §8.3: a value file named twice is file-set, before any content check.
        let ms = edited(
            layout::ENTRIES_JSONL,
            "\"file\":\"data/values/00000002.bin\"",
            "\"file\":\"data/values/00000001.bin\"",
            true,
        );
        g.push_members(
            "value-file-named-twice",
            "file-set",
            "bob's value names alice's value file (00000001.bin twice, 00000002.bin never)",
            &ms,
            &plain,
        );

        // §8.4: per value in order, the size limit before the private-key rule.
        let pem = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n".to_vec();
        for (name, expect, big, key) in [
            (
                "value-too-large-before-private-key",
                "size-limit",
                1usize,
                4usize,
            ),
            ("private-key-before-value-too-large", "private-key", 4, 1),
        ] {
            let mut ms = base.clone();
            member(&mut ms, &layout::value_file_name(big as u64)).data = vec![0x41; 256 * 1024 + 1];
            member(&mut ms, &layout::value_file_name(key as u64)).data = pem.clone();
            rehash(&mut ms, false);
            g.push_members(
                name,
                expect,
                &format!("value {big} is over 256 KiB and value {key} is a PEM private key: the first in file order decides"),
                &ms,
                &plain,
            );
        }

        // §4.2, §4.3: an empty member name; a zip without any member.
        {
            let mut ms = base.clone();
            ms[1].name = String::new();
            g.push_members(
                "zip-empty-member-name",
                "zip-name",
                "a member whose name is empty",
                &ms,
                &plain,
            );
            g.push_members(
                "zip-no-members",
                "file-set",
                "an end of central directory record and nothing else: a valid empty zip without bagit.txt",
                &[],
                &plain,
            );
        }
        // §8 step 5: a missing fixed tag file.
        for (name, file) in [
            ("file-set-missing-bag-info", layout::BAG_INFO_TXT),
            ("file-set-missing-manifest", layout::MANIFEST),
        ] {
            let ms: Vec<Member> = base.iter().filter(|m| m.name != file).cloned().collect();
            g.push_members(name, "file-set", &format!("{file} is missing"), &ms, &plain);
        }

        // §4.5: manifest lines in other forms than the canonical one.
        for (name, comment, from, to) in [
            (
                "manifest-binary-marker",
                "a manifest line `<hash> *name` (sha256sum's binary marker)",
                "  data/values/00000001.bin",
                " *data/values/00000001.bin",
            ),
            (
                "manifest-dot-slash",
                "a manifest line naming ./data/values/00000001.bin",
                "  data/values/00000001.bin",
                "  ./data/values/00000001.bin",
            ),
            (
                "manifest-percent-encoded",
                "a manifest line naming data%2Fvalues%2F00000001.bin",
                "  data/values/00000001.bin",
                "  data%2Fvalues%2F00000001.bin",
            ),
        ] {
            let mut ms = base.clone();
            replace(&mut member(&mut ms, layout::MANIFEST).data, from, to);
            rehash_tags_only(&mut ms);
            g.push_members(name, "manifest", comment, &ms, &plain);
        }
        {
            let mut ms = base.clone();
            let m = &mut member(&mut ms, layout::MANIFEST).data;
            let first = m.iter().position(|&b| b == b'\n').expect("line") + 1;
            let dup = m[..first].to_vec();
            m.splice(first..first, dup);
            rehash_tags_only(&mut ms);
            g.push_members(
                "manifest-duplicate-line",
                "manifest",
                "the first manifest line twice",
                &ms,
                &plain,
            );
        }

        // §5.3: a version that is not the canonical integer 1.
        for (name, to, expect) in [
            ("version-float", "\"version\":1.0", "content"),
            ("version-exponent", "\"version\":1e0", "content"),
            ("version-string", "\"version\":\"1\"", "content"),
            (
                "version-two-non-canonical",
                "\"version\":2,\"x\":0",
                "unsupported-version",
            ),
        ] {
            let ms = edited(layout::BUNDLE_JSON, "\"version\":1", to, false);
            g.push_members(name, expect, &format!("bundle.json with {to}"), &ms, &plain);
        }
        // §5.2: JSON that serde-style parsers may accept but canonical form never holds.
        for (name, target, from, to, comment) in [
            (
                "json-lone-surrogate",
                layout::ENTRIES_JSONL,
                "\"display_name\":\"Alice Adams\"",
                "\"display_name\":\"Alice \\ud800Adams\"",
                "a display name with an escaped lone surrogate",
            ),
            (
                "json-integer-over-64-bits",
                layout::BUNDLE_JSON,
                "\"sequence\":42",
                "\"sequence\":18446744073709551658",
                "a sequence beyond 64 bits",
            ),
            (
                "json-sequence-over-63-bits",
                layout::BUNDLE_JSON,
                "\"sequence\":42",
                "\"sequence\":9223372036854775808",
                "sequence 2^63, one over the maximum",
            ),
            (
                "json-negative-zero",
                layout::BUNDLE_JSON,
                "\"unparseable_values\":1",
                "\"unparseable_values\":-0",
                "a count written -0",
            ),
            (
                "json-nan",
                layout::BUNDLE_JSON,
                "\"unparseable_values\":1",
                "\"unparseable_values\":NaN",
                "a count written NaN",
            ),
            (
                "timestamp-february-30",
                layout::BUNDLE_JSON,
                "\"created\":\"2026-05-31T12:00:00Z\"",
                "\"created\":\"2026-02-30T12:00:00Z\"",
                "created on 30 February",
            ),
            (
                "timestamp-second-60",
                layout::BUNDLE_JSON,
                "\"created\":\"2026-05-31T12:00:00Z\"",
                "\"created\":\"2026-05-31T12:00:60Z\"",
                "created at second 60 (no leap seconds)",
            ),
        ] {
            let ms = edited(target, from, to, target == layout::ENTRIES_JSONL);
            g.push_members(name, "content", comment, &ms, &plain);
        }

        // §6.4: classification vocabulary and consistency, checked with a class.
        for (name, from, to, comment) in [
            (
                "class-unusable-without-reasons",
                "\"class\":\"encryption\",\"reasons\":[]",
                "\"class\":\"unusable\",\"reasons\":[]",
                "class unusable with no reason",
            ),
            (
                "class-encryption-with-reasons",
                "\"class\":\"encryption\",\"reasons\":[]",
                "\"class\":\"encryption\",\"reasons\":[\"expired\"]",
                "class encryption with a reason",
            ),
            (
                "reasons-unsorted",
                "\"reasons\":[\"no-email-protection\",\"no-matching-address\"",
                "\"reasons\":[\"no-matching-address\",\"no-email-protection\"",
                "reasons out of the §6.4 order",
            ),
            (
                "reason-unknown",
                "\"class\":\"encryption\",\"reasons\":[]",
                "\"class\":\"unusable\",\"reasons\":[\"revoked\"]",
                "a reason §6.4 does not define",
            ),
        ] {
            let ms = edited(layout::ENTRIES_JSONL, from, to, true);
            g.push_members(name, "content", comment, &ms, &plain);
        }

        // §7.1: signature files, malformed or non-canonical, from any key.
        {
            let b = g.base.clone();
            let good = sign_as(&g.keys.exporter, Role::Exporter, &b);
            let text = String::from_utf8(good.clone()).expect("text");
            let tab = text.replacen("untrusted comment: ", "untrusted comment: \t", 1);
            let v = g.push(
                "signature-untrusted-comment-tab",
                "signature-malformed",
                "the untrusted comment holds a TAB (not printable ASCII)",
                b.clone(),
            );
            v.signatures = vec![("bundle.zip.exporter.minisig".into(), tab.into_bytes())];
            let outsider = sign_as(&g.keys.outsider, Role::Exporter, &b);
            let mut junk = String::from_utf8(outsider).expect("text");
            junk = junk.replacen("\ntrusted comment: ", "\ntrusted comment:", 1);
            let v = g.push(
                "signature-malformed-unknown-key",
                "signature-malformed",
                "beside a valid signature, a malformed signature file by a key the policy does not know: step 1 parses every file",
                b.clone(),
            );
            v.signatures
                .push(("bundle.zip.outsider.minisig".into(), junk.into_bytes()));
            // Made by hand: the signer refuses such a comment.
            let tc = comment(
                Role::Exporter,
                SOURCE,
                SEQ,
                &BundleDigests::of_bytes(&b).sha256,
            );
            let long = text
                .replacen(&tc, &format!("{tc} {}", "x".repeat(8192 - tc.len())), 1)
                .into_bytes();
            let v = g.push(
                "signature-trusted-comment-over-8192",
                "signature-malformed",
                "a trusted comment of more than 8192 bytes",
                b.clone(),
            );
            v.signatures = vec![("bundle.zip.exporter.minisig".into(), long)];
            let v = g.push(
                "signature-non-canonical-s",
                "signature-invalid",
                "a signature whose S is replaced by S + L (same value mod L), global signature re-made over it: strict verification refuses it",
                b.clone(),
            );
            v.signatures = vec![("bundle.zip.exporter.minisig".into(), non_canonical_s(&b))];
        }

        // §6.3: key_bits for Ed25519, Ed448 and DSA; encipherOnly without keyAgreement.
        let rita = |file: &str| -> Res<Vec<u8>> {
            build_from(
                root,
                vec![(
                    "rita",
                    "Rita Keys",
                    vec![(Attribute::UserCertificate, fixture(root, file)?)],
                    ObjectKind::User,
                )],
            )
        };
        for (name, file, comment) in [
            ("key-type-ed25519", "keytypes/ed25519.der", "an Ed25519 subject key: key_type ed25519, key_bits 256"),
            ("key-type-ed448", "keytypes/ed448.der", "an Ed448 subject key: key_type ed448, key_bits 448"),
            ("key-type-dsa-2048", "keytypes/dsa-2048.der", "a DSA subject key: key_bits is the bit length of p (2048)"),
            ("key-usage-encipher-only", "keytypes/encipher-only.der", "keyUsage digitalSignature and encipherOnly without keyAgreement: both listed, class signing-only"),
        ] {
            g.push(name, "success", comment, rita(file)?);
        }
        {
            let mut ms = split(&rita("keytypes/ed25519.der")?);
            replace(
                &mut member(&mut ms, layout::ENTRIES_JSONL).data,
                "\"key_bits\":256",
                "\"key_bits\":255",
            );
            rehash(&mut ms, true);
            g.push_members(
                "key-type-ed25519-bits-lie",
                "content",
                "an Ed25519 key recorded with key_bits 255",
                &ms,
                &plain,
            );
        }

        // §4.3 informative: a value holding a complete zip local header is valid.
        {
            let mut inner = vec![0x50, 0x4b, 0x03, 0x04, 10, 0, 0, 0, 0, 0, 0, 0, 0x21, 0];
            let payload = b"not the real value";
            inner.extend(crc32(payload).to_le_bytes());
            inner.extend((payload.len() as u32).to_le_bytes());
            inner.extend((payload.len() as u32).to_le_bytes());
            inner.extend(4u16.to_le_bytes());
            inner.extend(0u16.to_le_bytes());
            inner.extend(b"evil");
            inner.extend(payload);
            g.push(
                "value-holding-a-zip-local-header",
                "success",
                "an unparseable value whose bytes are a complete zip local header and data: central-directory readers see one member, scanning readers see two",
                build_from(root, one(inner))?,
            );
        }
    }

    pki::vectors(&mut g, root)?;
    r14::vectors(&mut g, root)?;
    parts::vectors(&mut g, root)?;

    // Write.
    std::fs::create_dir_all(out)?;
    for v in &g.vectors {
        std::fs::write(out.join(format!("{}.vector", v.name)), v.render())?;
    }
    let _ = (&g.base, &g.empty);
    eprintln!("wrote {} vectors to {}", g.vectors.len(), out.display());
    Ok(())
}

/// A DER certs-only PKCS#7 SignedData holding `certs` in order.
fn pkcs7_of(certs: &[Vec<u8>]) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = content.len();
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .iter()
                .copied()
                .skip_while(|&b| b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }
    let oid_signed = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    let oid_data = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    let mut sd = vec![0x02, 0x01, 0x01]; // version 1
    sd.extend(tlv(0x31, &[])); // digestAlgorithms
    sd.extend(tlv(0x30, &oid_data)); // encapContentInfo
    sd.extend(tlv(0xa0, &certs.concat())); // [0] IMPLICIT certificates
    sd.extend(tlv(0x31, &[])); // signerInfos
    let mut ci = oid_signed.to_vec();
    ci.extend(tlv(0xa0, &tlv(0x30, &sd)));
    tlv(0x30, &ci)
}

/// The test exporter's signature over `bundle` with S replaced by S + L (the
/// same scalar mod L, a non-canonical encoding), and a global signature made
/// over that: only the strict S < L rule refuses it.
fn non_canonical_s(bundle: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer as _;
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let b64 = base64::engine::general_purpose::STANDARD;
    let seed = *Sha256::digest(b"certferry test vector key exporter").as_bytes();
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    let d = BundleDigests::of_bytes(bundle);
    let mut sig = sk.sign(d.blake2b.as_ref()).to_bytes();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
    let key_id = [0xce, 0x27, 0xfe, 0x77, 0, 0, 0, 1];
    let tc = comment(Role::Exporter, SOURCE, SEQ, &d.sha256);
    let mut signed = sig.to_vec();
    signed.extend_from_slice(tc.as_bytes());
    let global = sk.sign(&signed).to_bytes();
    let mut line = b"ED".to_vec();
    line.extend(key_id);
    line.extend(sig);
    format!(
        "untrusted comment: certferry test vector signature\n{}\ntrusted comment: {tc}\n{}\n",
        b64.encode(line),
        b64.encode(global)
    )
    .into_bytes()
}

/// Recomputes only the tag manifest (the payload manifest stays as edited).
fn rehash_tags_only(ms: &mut [Member]) {
    let mut tags = Vec::new();
    for n in [layout::BAGIT_TXT, layout::MANIFEST, layout::BAG_INFO_TXT] {
        if let Some(m) = ms.iter().find(|m| m.name == n) {
            layout::manifest_line(&mut tags, &Sha256::digest(&m.data), n);
        }
    }
    if let Some(m) = ms.iter_mut().find(|m| m.name == layout::TAG_MANIFEST) {
        m.data = tags;
    }
}

/// Writes the committed test keys (run once; kept for the record). Seeds are
/// SHA-256 of a fixed label, so anyone can re-derive them.
fn make_keys(dir: &Path) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    for (i, name) in ["exporter", "reviewer", "outsider"].into_iter().enumerate() {
        let seed =
            *Sha256::digest(format!("certferry test vector key {name}").as_bytes()).as_bytes();
        let (pk, sk) = certferry_format::keys::keypair_from_seed(
            &seed,
            [0xce, 0x27, 0xfe, 0x77, 0, 0, 0, i as u8 + 1],
        );
        std::fs::write(dir.join(format!("{name}.key")), sk.to_file_string(None)?)?;
        std::fs::write(dir.join(format!("{name}.pub")), pk.to_file_string())?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let arg = std::env::args()
        .nth(1)
        .ok_or("usage: gen_vectors OUT_DIR | --make-keys DIR")?;
    if arg == "--make-keys" {
        let dir: PathBuf = std::env::args().nth(2).ok_or("--make-keys DIR")?.into();
        return make_keys(&dir);
    }
    let out: PathBuf = arg.into();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    generate(&root, &out)
}
