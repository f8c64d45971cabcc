//! The vendored ldap3 decodes every LDAP message with its own BER parser
//! (`ldap3::asn1::parse_tag_direct`, vendor/README.md) instead of lber's
//! nom-based `lber::parse::parse_tag`. These tests hold the two to the same
//! answer on every input they try: equal trees and equal remaining input, or
//! both failing the same way (incomplete, or not). The unmodified lber from
//! crates.io is the reference.

use ldap3::asn1::{parse_tag_direct, StructureTag, TagClass, PL};

/// Asserts that both parsers give the same answer for `input`; returns
/// whether it parsed.
fn assert_same(input: &[u8]) -> bool {
    let reference = lber::parse::parse_tag(input);
    let direct = parse_tag_direct(input);
    match (reference, direct) {
        (Ok((rest_ref, tag_ref)), Ok((rest_dir, tag_dir))) => {
            assert_eq!(tag_ref, tag_dir, "different trees for {input:02x?}");
            assert_eq!(rest_ref, rest_dir, "different rest for {input:02x?}");
            true
        }
        (Err(e_ref), Err(e_dir)) => {
            assert_eq!(
                e_ref.is_incomplete(),
                e_dir.is_incomplete(),
                "lber: {e_ref:?}, direct: {e_dir:?} for {input:02x?}"
            );
            false
        }
        (r, d) => panic!("lber: {r:?}, direct: {d:?} for {input:02x?}"),
    }
}

/// xorshift64*: a small deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn encode(tag: StructureTag) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    lber::write::encode_into(&mut buf, tag).expect("encodes");
    buf.to_vec()
}

fn random_tag(rng: &mut Rng, depth: u32) -> StructureTag {
    let class = match rng.below(4) {
        0 => TagClass::Universal,
        1 => TagClass::Application,
        2 => TagClass::Context,
        _ => TagClass::Private,
    };
    let id = rng.below(31);
    let payload = if depth < 5 && rng.below(3) == 0 {
        PL::C(
            (0..rng.below(5))
                .map(|_| random_tag(rng, depth + 1))
                .collect(),
        )
    } else {
        // Lengths across the short form, one and two length octets.
        let len = match rng.below(4) {
            0 => rng.below(4),
            1 => rng.below(128),
            2 => 128 + rng.below(200),
            _ => 256 + rng.below(1200),
        };
        PL::P((0..len).map(|_| rng.next() as u8).collect())
    };
    StructureTag { class, id, payload }
}

fn primitive(id: u64, value: &[u8]) -> StructureTag {
    StructureTag {
        class: TagClass::Universal,
        id,
        payload: PL::P(value.to_vec()),
    }
}

fn constructed(class: TagClass, id: u64, children: Vec<StructureTag>) -> StructureTag {
    StructureTag {
        class,
        id,
        payload: PL::C(children),
    }
}

/// A SearchResultEntry message as slapd sends one for an exported user.
fn search_result_entry() -> Vec<u8> {
    let attribute = |name: &str, values: &[&[u8]]| {
        constructed(
            TagClass::Universal,
            16,
            vec![
                primitive(4, name.as_bytes()),
                constructed(
                    TagClass::Universal,
                    17,
                    values.iter().map(|v| primitive(4, v)).collect(),
                ),
            ],
        )
    };
    let certificate = vec![0x30u8; 1000];
    encode(constructed(
        TagClass::Universal,
        16,
        vec![
            primitive(2, &[0x07]),
            constructed(
                TagClass::Application,
                4,
                vec![
                    primitive(4, b"cn=Bulk User 000123,ou=Bulk,dc=contoso,dc=test"),
                    constructed(
                        TagClass::Universal,
                        16,
                        vec![
                            attribute("objectClass", &[b"top", b"person", b"user"]),
                            attribute("objectGUID", &[&[0xab; 16]]),
                            attribute("mail", &[b"bulk000123@contoso.test"]),
                            attribute(
                                "proxyAddresses",
                                &[b"SMTP:bulk000123@contoso.test", b"smtp:b@contoso.test"],
                            ),
                            attribute("userCertificate;binary", &[&certificate]),
                            attribute("userSMIMECertificate", &[]),
                        ],
                    ),
                ],
            ),
        ],
    ))
}

#[test]
fn direct_parser_matches_lber_on_a_search_result_entry_and_every_truncation() {
    let message = search_result_entry();
    assert!(assert_same(&message));
    let mut two = message.clone();
    two.extend_from_slice(&message);
    assert!(assert_same(&two), "a second message stays in the rest");
    for end in 0..message.len() {
        assert!(!assert_same(&message[..end]), "truncated at {end} parsed");
    }
}

#[test]
fn direct_parser_matches_lber_on_generated_trees_and_their_mutations() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed_mutants = 0;
    for _ in 0..2000 {
        let encoded = encode(random_tag(&mut rng, 0));
        assert!(assert_same(&encoded));
        for _ in 0..8 {
            let mut mutant = encoded.clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(mutant.len() as u64) as usize;
                mutant[at] = rng.next() as u8;
            }
            let end = if rng.below(4) == 0 {
                rng.below(mutant.len() as u64 + 1) as usize
            } else {
                mutant.len()
            };
            parsed_mutants += usize::from(assert_same(&mutant[..end]));
        }
    }
    // The mutations must reach both outcomes, or the comparison proves little.
    assert!(
        parsed_mutants > 1000,
        "only {parsed_mutants} mutants parsed"
    );
}

#[test]
fn direct_parser_matches_lber_on_random_bytes() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..50_000 {
        let len = rng.below(24) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert_same(&bytes);
    }
}

#[test]
fn direct_parser_keeps_lbers_quirks() {
    let cases: &[&[u8]] = &[
        &[],
        &[0x30],
        // High-tag-number form: lber reads the low five bits as the number.
        &[0x1f, 0x01, 0x05],
        &[0x3f, 0x00],
        // Indefinite length reads as length 0.
        &[0x30, 0x80, 0x04, 0x00, 0x00, 0x00],
        // Long form with more than eight octets keeps the low 64 bits.
        &[0x04, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xaa],
        &[0x04, 0x81, 0x00],
        &[0x04, 0x82, 0x00, 0x01, 0xaa, 0xbb],
        // A child longer than its parent: incomplete, as in lber.
        &[0x30, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00],
        // An empty constructed element, and one inside another.
        &[0x30, 0x00],
        &[0x30, 0x02, 0x31, 0x00, 0x99],
        // A length too large for any buffer.
        &[0x04, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    for case in cases {
        assert_same(case);
    }
}
