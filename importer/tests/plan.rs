//! The planner on evaluations of real, verified bundles: complete value sets,
//! refused values never planned, prune only what certferry wrote, ambiguity,
//! synced recipients, the value cap per attribute, contacts, and the three
//! ways to match. The evaluation the planner takes can only be made from a
//! `VerifiedBundle`, so every case here goes through signing and verification.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use certferry_format::model::{Attribute, ObjectKind};
use certferry_format::Sha256;
use certferry_import::certpolicy::JudgedBundle;
use certferry_import::certpolicy::{evaluate, CertificatePolicy, OverLimit, RevocationPolicy};
use certferry_import::exchange::client::Listing;
use certferry_import::exchange::recipient::{Recipient, RecipientKind};
use certferry_import::plan::{
    compute, fingerprint, immutable_id, CapExceeded, MatchBy, Outcome, PlanCounts, PlanItem,
    PlanOptions, PreviousEntry, ValueSets,
};
use certferry_import::tenant_listing::{ListingBuilder, TenantListing};
use common::*;

/// Opaque values (no certificate): the policy below passes them on, so the
/// planner sees exactly these bytes.
const A: &[u8] = b"cert-a";
const B: &[u8] = b"cert-b";
const FOREIGN: &[u8] = b"someone else's";

/// A policy that accepts opaque values (`accept`) or refuses them as `unparseable`.
fn policy(accept: bool) -> CertificatePolicy {
    CertificatePolicy {
        trusted_issuers: Vec::new(),
        intermediates: Vec::new(),
        require_email_protection: false,
        require_matching_address: false,
        reject_expired: false,
        reject_not_yet_valid: false,
        max_values_per_attribute: CertificatePolicy::DEFAULT_MAX_VALUES,
        over_limit: OverLimit::Newest,
        min_rsa_bits: CertificatePolicy::DEFAULT_MIN_RSA_BITS,
        reject_unparseable: !accept,
        revocation: RevocationPolicy::Warn,
    }
}

/// A user whose mail (and UPN, and primary SMTP address) is `addr`.
fn person(guid: &str, addr: &str, values: &[(Attribute, &[u8])]) -> Person {
    Person {
        who: addr.split('@').next().unwrap().to_owned(),
        kind: ObjectKind::User,
        guid: Some(guid.to_owned()),
        mail: addr.to_owned(),
        values: values.iter().map(|(a, v)| (*a, v.to_vec())).collect(),
    }
}

/// A bundle of `people`, signed, then verified and judged under `policy(accept)`.
struct Bundle(Vec<Person>);

fn bundle(people: Vec<Person>) -> Bundle {
    Bundle(people)
}

/// A plan's items, made once, with the bytes of each write's value sets.
#[derive(Debug)]
struct Planned {
    items: Vec<PlanItem>,
    counts: PlanCounts,
    sets: Vec<ValueSets>,
}

impl Planned {
    /// The bytes the `c`th change of item `i` writes.
    fn values(&self, i: usize, c: usize) -> Vec<Vec<u8>> {
        self.sets[i][c].1.clone()
    }
}

/// The tenant as `plan` lists it: `r`, indexed for `match_by`.
fn listed(r: &[Recipient], match_by: MatchBy) -> TenantListing {
    let mut b = ListingBuilder::new(match_by);
    for one in r {
        b.add(one.clone());
    }
    b.finish(Listing::default()).expect("listing")
}

/// The plan of `judged` against `r`, every item made and its value sets read.
fn planned(
    judged: &JudgedBundle,
    r: &[Recipient],
    prev: &HashMap<String, PreviousEntry>,
    opts: &PlanOptions,
) -> Planned {
    let tenant = listed(r, opts.match_by);
    let p = compute(judged, &tenant, prev, opts).expect("plan");
    let mut items = Vec::new();
    let mut sets = Vec::new();
    p.for_each_item(|item| {
        let changes = match &item.outcome {
            Outcome::Change { changes, .. } | Outcome::CreateContact { changes, .. } => {
                changes.as_slice()
            }
            _ => &[],
        };
        sets.push(p.value_sets(changes)?);
        items.push(item);
        Ok::<(), certferry_import::plan::PlanError>(())
    })
    .expect("items");
    assert_eq!(items.len(), p.counts.items, "the totals count every item");
    Planned {
        items,
        counts: p.counts.clone(),
        sets,
    }
}

/// The plan for `b` under `policy(accept)`: signed, verified, judged while
/// verified, planned.
fn plan(
    b: &Bundle,
    accept: bool,
    r: &[Recipient],
    prev: &HashMap<String, PreviousEntry>,
    opts: &PlanOptions,
) -> Planned {
    let policy = policy(accept);
    let judged = verified_judged(&Spec::new(1, b.0.clone()), &policy);
    planned(&judged, r, prev, opts)
}

fn mailbox(id: &str, addrs: &[&str], certs: &[&[u8]]) -> Recipient {
    Recipient {
        kind: RecipientKind::Mailbox,
        external_directory_object_id: Some(id.into()),
        identity: None,
        display_name: id.into(),
        primary_smtp_address: addrs[0].into(),
        email_addresses: addrs.iter().map(|a| format!("smtp:{a}")).collect(),
        user_principal_name: Some(addrs[0].into()),
        recipient_type_details: "UserMailbox".into(),
        is_dir_synced: false,
        is_exchange_cloud_managed: false,
        immutable_id: None,
        certificates: [(
            Attribute::UserCertificate,
            certs.iter().map(|c| c.to_vec()).collect(),
        )]
        .into(),
    }
}

fn hex_sha(v: &[u8]) -> String {
    Sha256::digest(v).to_hex()
}

const G1: &str = "6f2d1b9a-0c3e-4d5f-8a7b-000000000001";
const G2: &str = "6f2d1b9a-0c3e-4d5f-8a7b-000000000002";
const ALICE: &str = "alice@contoso.test";
const UC: Attribute = Attribute::UserCertificate;

fn alice_with(values: &[(Attribute, &[u8])]) -> Bundle {
    bundle(vec![person(G1, ALICE, values)])
}

/// What certferry wrote for alice (G1) earlier: `A` in userCertificate.
fn wrote_a_before() -> HashMap<String, PreviousEntry> {
    HashMap::from([(
        G1.to_owned(),
        PreviousEntry {
            label: "alice".into(),
            addresses: vec![ALICE.into()],
            upn: None,
            written: BTreeMap::from([(UC, BTreeSet::from([hex_sha(A)]))]),
        },
    )])
}

fn pruning() -> PlanOptions {
    PlanOptions {
        prune: true,
        ..PlanOptions::default()
    }
}

#[test]
fn new_certificate_is_added_to_the_complete_value_set() {
    let b = alice_with(&[(UC, A)]);
    let r = vec![mailbox("id1", &[ALICE], &[FOREIGN])];
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    let Outcome::Change { changes, .. } = &p.items[0].outcome else {
        panic!("{:?}", p.items[0])
    };
    assert_eq!(p.values(0, 0), vec![FOREIGN.to_vec(), A.to_vec()]);
    assert_eq!(changes[0].value_sha256, vec![hex_sha(FOREIGN), hex_sha(A)]);
    assert_eq!(changes[0].added, vec![hex_sha(A)]);
    assert_eq!(p.counts.change, 1);
}

#[test]
fn refused_values_are_never_planned() {
    let b = alice_with(&[(UC, A)]);
    let r = vec![mailbox("id1", &[ALICE], &[])];
    let p = plan(&b, false, &r, &HashMap::new(), &PlanOptions::default());
    assert_eq!(p.items[0].outcome, Outcome::Unchanged);
    // The same bundle under a policy that accepts the value: it is planned.
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert!(matches!(p.items[0].outcome, Outcome::Change { .. }));
}

#[test]
fn a_withheld_private_key_is_never_planned() {
    let key = pki("hostile/key-pkcs8.der");
    let b = alice_with(&[(UC, &key)]);
    let r = vec![mailbox("id1", &[ALICE], &[])];
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert_eq!(p.items[0].outcome, Outcome::Unchanged);
}

#[test]
fn unchanged_when_the_tenant_already_has_the_values() {
    let b = alice_with(&[(UC, A)]);
    let r = vec![mailbox("id1", &[ALICE], &[A])];
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert_eq!(p.items[0].outcome, Outcome::Unchanged);
}

#[test]
fn prune_removes_only_values_certferry_wrote_earlier() {
    let b = alice_with(&[(UC, B)]);
    let r = vec![mailbox("id1", &[ALICE], &[FOREIGN, A])];
    let prev = wrote_a_before();
    let keep = plan(&b, true, &r, &prev, &PlanOptions::default());
    let Outcome::Change { .. } = &keep.items[0].outcome else {
        panic!("{:?}", keep.items[0])
    };
    assert_eq!(
        keep.values(0, 0),
        vec![FOREIGN.to_vec(), A.to_vec(), B.to_vec()],
        "without prune nothing is removed"
    );
    let pruned = plan(&b, true, &r, &prev, &pruning());
    let Outcome::Change { changes, .. } = &pruned.items[0].outcome else {
        panic!("{:?}", pruned.items[0])
    };
    assert_eq!(pruned.values(0, 0), vec![FOREIGN.to_vec(), B.to_vec()]);
    assert_eq!(changes[0].removed, vec![hex_sha(A)]);
}

#[test]
fn prune_clears_entries_gone_from_the_bundle() {
    // The bundle no longer holds alice (G1), only bob.
    let b = bundle(vec![person(G2, "bob@contoso.test", &[(UC, B)])]);
    let r = vec![mailbox("id1", &[ALICE], &[A, FOREIGN])];
    let p = plan(&b, true, &r, &wrote_a_before(), &pruning());
    let gone = p
        .items
        .iter()
        .position(|i| i.entry == G1)
        .expect("alice planned");
    let Outcome::Change { .. } = &p.items[gone].outcome else {
        panic!("{:?}", p.items)
    };
    assert_eq!(p.values(gone, 0), vec![FOREIGN.to_vec()]);
}

#[test]
fn an_address_on_two_recipients_is_ambiguous_and_never_written() {
    let b = bundle(vec![person(G1, "carol@contoso.test", &[(UC, A)])]);
    let r = vec![
        mailbox("id1", &["carol@contoso.test"], &[]),
        mailbox("id2", &["other@contoso.test", "carol@contoso.test"], &[]),
    ];
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert!(
        matches!(&p.items[0].outcome, Outcome::Ambiguous { candidates } if candidates.len() == 2),
        "{:?}",
        p.items[0]
    );
}

#[test]
fn two_entries_claiming_one_recipient_are_both_ambiguous() {
    let b = bundle(vec![
        person(G1, "x@contoso.test", &[(UC, A)]),
        person(G2, "x@contoso.test", &[(UC, B)]),
    ]);
    let r = vec![mailbox("id1", &["x@contoso.test"], &[])];
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert_eq!(p.counts.ambiguous, 2);
}

#[test]
fn synced_recipient_is_skipped_with_the_reason_unless_cloud_managed() {
    let b = alice_with(&[(UC, A)]);
    let mut r = vec![mailbox("id1", &[ALICE], &[])];
    r[0].is_dir_synced = true;
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert!(
        matches!(&p.items[0].outcome, Outcome::Skipped { reason } if reason.contains("on-premises"))
    );
    r[0].is_exchange_cloud_managed = true;
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert!(matches!(p.items[0].outcome, Outcome::Change { .. }));
}

#[test]
fn over_the_value_cap_is_not_written() {
    let b = alice_with(&[(UC, A)]);
    let existing: Vec<&[u8]> = vec![b"1", b"2", b"3"];
    let r = vec![mailbox("id1", &[ALICE], &existing)];
    let opts = PlanOptions {
        max_values: 3,
        ..PlanOptions::default()
    };
    let p = plan(&b, true, &r, &HashMap::new(), &opts);
    assert_eq!(
        p.items[0].outcome,
        Outcome::OverCap {
            attributes: vec![CapExceeded {
                attribute: UC,
                count: 4
            }]
        }
    );
}

#[test]
fn an_attribute_at_the_cap_does_not_hold_back_the_other_attribute() {
    let b = alice_with(&[(UC, A), (Attribute::UserSmimeCertificate, B)]);
    let existing: Vec<&[u8]> = vec![b"1", b"2", b"3"];
    let r = vec![mailbox("id1", &[ALICE], &existing)];
    let opts = PlanOptions {
        max_values: 3,
        ..PlanOptions::default()
    };
    let p = plan(&b, true, &r, &HashMap::new(), &opts);
    let Outcome::Change { changes, over_cap } = &p.items[0].outcome else {
        panic!("{:?}", p.items[0])
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].attribute, Attribute::UserSmimeCertificate);
    assert_eq!(p.values(0, 0), vec![B.to_vec()]);
    assert_eq!(
        over_cap,
        &vec![CapExceeded {
            attribute: UC,
            count: 4
        }]
    );
    assert_eq!((p.counts.change, p.counts.over_cap), (1, 1));
}

#[test]
fn unmatched_entries_become_contacts_only_when_asked() {
    let b = bundle(vec![person(G1, "partner@fabrikam.test", &[(UC, A)])]);
    let p = plan(&b, true, &[], &HashMap::new(), &PlanOptions::default());
    assert_eq!(p.items[0].outcome, Outcome::Unmatched);
    let opts = PlanOptions {
        create_contacts: true,
        ..PlanOptions::default()
    };
    let p = plan(&b, true, &[], &HashMap::new(), &opts);
    assert!(
        matches!(&p.items[0].outcome, Outcome::CreateContact { address, .. } if address == "partner@fabrikam.test"),
        "{:?}",
        p.items[0]
    );
}

#[test]
fn match_by_upn() {
    let b = alice_with(&[(UC, A)]);
    let mut r = vec![mailbox("id1", &["other@contoso.test"], &[])];
    r[0].user_principal_name = Some("ALICE@contoso.test".into());
    let opts = PlanOptions {
        match_by: MatchBy::Upn,
        ..PlanOptions::default()
    };
    let p = plan(&b, true, &r, &HashMap::new(), &opts);
    assert!(matches!(p.items[0].outcome, Outcome::Change { .. }));
    let p = plan(&b, true, &r, &HashMap::new(), &PlanOptions::default());
    assert_eq!(p.items[0].outcome, Outcome::Unmatched);
}

#[test]
fn immutable_id_is_base64_of_the_stored_guid_bytes() {
    // fixtures/directory/expected.json: alice's objectGUID and its base64.
    assert_eq!(
        immutable_id("425e4f58-0006-7009-e12e-330c6e0454ec").as_deref(),
        Some("WE9eQgYACXDhLjMMbgRU7A==")
    );
    assert_eq!(immutable_id("cn=someone,dc=x"), None);
}

#[test]
fn match_by_immutable_id() {
    let b = bundle(vec![person(
        "425e4f58-0006-7009-e12e-330c6e0454ec",
        ALICE,
        &[(UC, A)],
    )]);
    let mut r = vec![mailbox("id1", &["other@contoso.test"], &[])];
    r[0].immutable_id = Some("WE9eQgYACXDhLjMMbgRU7A==".into());
    let opts = PlanOptions {
        match_by: MatchBy::ImmutableId,
        ..PlanOptions::default()
    };
    let p = plan(&b, true, &r, &HashMap::new(), &opts);
    assert!(matches!(p.items[0].outcome, Outcome::Change { .. }));
}

#[test]
fn fingerprint_changes_with_the_values() {
    let t = listed(
        &[
            mailbox("id1", &[ALICE], &[A]),
            mailbox("id2", &["b@contoso.test"], &[B]),
            mailbox("id3", &["c@contoso.test"], &[A]),
        ],
        MatchBy::Smtp,
    );
    assert_ne!(fingerprint(t.recipient(0)), fingerprint(t.recipient(1)));
    assert_eq!(fingerprint(t.recipient(0)), fingerprint(t.recipient(2)));
    // As first written: one line per attribute, its fifth letter, `:` and each value's digest.
    let text = format!("c:{}\ns\n", hex_sha(A));
    assert_eq!(fingerprint(t.recipient(0)), hex_sha(text.as_bytes()));
}

#[test]
fn prune_removes_a_certificate_certferry_wrote_once_it_is_revoked() {
    let rex = pki("chain/rex.der");
    const REX: &str = "rex@contoso.test";
    let mut policy = policy(false);
    policy.trusted_issuers =
        certferry_format::cert::TrustedIssuer::from_der(&pki("ca/issuing-ca.der"))
            .map(|i| vec![i])
            .unwrap();
    let mut spec = Spec::new(2, vec![person(G1, REX, &[(UC, &rex)])]);
    spec.pki = Some(vec![ca_file("crl/issuing-ca.der")]);
    let judged = verified_judged(&spec, &policy);
    let eval = evaluate(&judged).expect("spooled verdicts");
    assert_eq!(eval.entries()[0].values()[0].refusals()[0].code, "revoked");
    let r = vec![mailbox("id1", &[REX], &[&rex])];
    let prev = HashMap::from([(
        G1.to_owned(),
        PreviousEntry {
            label: "rex".into(),
            addresses: vec![REX.into()],
            upn: None,
            written: BTreeMap::from([(UC, BTreeSet::from([hex_sha(&rex)]))]),
        },
    )]);
    let kept = planned(&judged, &r, &prev, &PlanOptions::default());
    assert!(
        !matches!(kept.items[0].outcome, Outcome::Change { .. }),
        "without --prune the revoked value stays: {:?}",
        kept.items[0]
    );
    let pruned = planned(&judged, &r, &prev, &pruning());
    let Outcome::Change { changes, .. } = &pruned.items[0].outcome else {
        panic!("{:?}", pruned.items[0])
    };
    assert_eq!(changes[0].removed, vec![hex_sha(&rex)]);
    assert!(pruned.values(0, 0).is_empty());
}
