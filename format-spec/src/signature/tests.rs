//! Unit tests of `signature.rs`.

use super::*;
use crate::keys::keypair_from_seed;
use crate::ErrorClass;

const TC: &str = "certferry-bundle:v1 role=exporter source=contoso-ad seq=1 sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn keys() -> (PublicKey, SecretKey) {
    keypair_from_seed(&[42u8; 32], *b"certfrry")
}

fn signed() -> (PublicKey, SignatureFile, [u8; 64]) {
    let (pk, sk) = keys();
    let h = blake2b512(b"bundle bytes");
    let sig = SignatureFile::sign(&sk, &h, TC, "signature from certferry").expect("sign");
    (pk, sig, h)
}

fn malformed(bytes: &[u8]) -> crate::Error {
    let e = SignatureFile::parse(bytes).expect_err("must not parse");
    assert_eq!(e.class(), ErrorClass::SignatureMalformed, "{e}");
    e
}

/// Decodes line 2, lets `f` modify the blob, and re-encodes it.
fn with_blob(sig: &SignatureFile, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let text = String::from_utf8(sig.to_bytes()).expect("ascii");
    let lines: Vec<&str> = text.lines().collect();
    let mut blob = BASE64.decode(lines[1]).expect("b64");
    f(&mut blob);
    format!(
        "{}\n{}\n{}\n{}\n",
        lines[0],
        BASE64.encode(&blob),
        lines[2],
        lines[3]
    )
    .into_bytes()
}

#[test]
fn blake2b512_known_answer() {
    // RFC 7693 appendix A: BLAKE2b-512("abc").
    let h = blake2b512(b"abc");
    assert_eq!(
        crate::hex::encode_lower(&h),
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
         7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
    );
}

#[test]
fn sign_verify_round_trip_and_text_form() {
    let (pk, sig, h) = signed();
    sig.verify(&pk, &h).expect("verifies");
    let bytes = sig.to_bytes();
    let text = String::from_utf8(bytes.clone()).expect("ascii");
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "untrusted comment: signature from certferry");
    assert!(
        lines[1].starts_with("RUR"),
        "alg ED encodes as RUR..: {}",
        lines[1]
    );
    assert_eq!(lines[2], format!("trusted comment: {TC}"));
    assert!(text.ends_with('\n'));
    let back = SignatureFile::parse(&bytes).expect("parse");
    assert_eq!(back, sig);
    assert_eq!(back.algorithm(), Algorithm::Prehashed);
    assert_eq!(back.key_id(), pk.key_id());
    assert_eq!(back.trusted_comment(), TC);
    assert_eq!(back.untrusted_comment(), "signature from certferry");
    back.verify(&pk, &h).expect("parsed copy verifies");
    // The final LF is optional, as minisign's reader does not need it.
    let no_lf = SignatureFile::parse(&bytes[..bytes.len() - 1]).expect("no final LF");
    assert_eq!(no_lf, sig);
}

#[test]
fn signature_is_over_blake2b_prehash_not_ed25519ph() {
    let (pk, sig, h) = signed();
    let vk = VerifyingKey::from_bytes(pk.as_bytes()).expect("vk");
    vk.verify_strict(&h, &Signature::from_bytes(&sig.signature))
        .expect("plain Ed25519 over the 64-byte BLAKE2b-512");
}

#[test]
fn tampered_file_is_signature_invalid() {
    let (pk, sig, _) = signed();
    let e = sig
        .verify(&pk, &blake2b512(b"bundle bytez"))
        .expect_err("other file");
    assert_eq!(e.class(), ErrorClass::SignatureInvalid);
}

#[test]
fn tampered_trusted_comment_is_signature_invalid() {
    let (pk, sig, h) = signed();
    let text = String::from_utf8(sig.to_bytes()).expect("ascii");
    let tampered = text.replace("seq=1 ", "seq=2 ");
    let parsed = SignatureFile::parse(tampered.as_bytes()).expect("still well-formed");
    let e = parsed.verify(&pk, &h).expect_err("comment changed");
    assert_eq!(e.class(), ErrorClass::SignatureInvalid);
    assert!(e.message().contains("trusted comment"), "{e}");
}

#[test]
fn untrusted_comment_is_not_authenticated() {
    let (pk, sig, h) = signed();
    let text = String::from_utf8(sig.to_bytes()).expect("ascii");
    let changed = text.replace("signature from certferry", "anything at all");
    SignatureFile::parse(changed.as_bytes())
        .expect("parse")
        .verify(&pk, &h)
        .expect("untrusted comment may change");
}

#[test]
fn other_key_id_is_signature_invalid_naming_both_keys() {
    let (_, sig, h) = signed();
    let (other, _) = keypair_from_seed(&[43u8; 32], *b"otherkey");
    let e = sig.verify(&other, &h).expect_err("other key");
    assert_eq!(e.class(), ErrorClass::SignatureInvalid);
    assert_eq!(
        e.message(),
        format!(
            "signature is by key {}, not {}",
            sig.key_id(),
            other.key_id()
        )
    );
}

#[test]
fn same_key_id_other_key_is_signature_invalid() {
    let (_, sig, h) = signed();
    let (other, _) = keypair_from_seed(&[43u8; 32], *b"certfrry");
    assert_eq!(
        sig.verify(&other, &h).expect_err("other key").class(),
        ErrorClass::SignatureInvalid
    );
}

#[test]
fn rewritten_key_id_is_signature_invalid() {
    let (_, sig, h) = signed();
    let (other, _) = keypair_from_seed(&[43u8; 32], *b"otherkey");
    let forged = with_blob(&sig, |b| {
        b[2..10].copy_from_slice(other.key_id().as_bytes())
    });
    let forged = SignatureFile::parse(&forged).expect("parse");
    assert_eq!(
        forged.verify(&other, &h).expect_err("forged").class(),
        ErrorClass::SignatureInvalid
    );
}

#[test]
fn legacy_ed_parses_but_verify_is_signature_algorithm() {
    let (pk, sig, h) = signed();
    let legacy = with_blob(&sig, |b| b[..2].copy_from_slice(b"Ed"));
    let parsed = SignatureFile::parse(&legacy).expect("legacy parses");
    assert_eq!(parsed.algorithm(), Algorithm::Legacy);
    let e = parsed.verify(&pk, &h).expect_err("legacy refused");
    assert_eq!(e.class(), ErrorClass::SignatureAlgorithm);
}

#[test]
fn high_s_non_canonical_signature_is_rejected() {
    // S' = S + L verifies with a lax verifier (same point), so it is the
    // classic malleability; verify_strict must refuse it.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let (pk, sig, h) = signed();
    let mut bumped = sig.clone();
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let s = u16::from(bumped.signature[32 + i]) + u16::from(*l) + carry;
        bumped.signature[32 + i] = s as u8;
        carry = s >> 8;
    }
    assert_eq!(carry, 0);
    assert_ne!(bumped.signature, sig.signature);
    let reparsed = SignatureFile::parse(&bumped.to_bytes()).expect("well-formed");
    assert_eq!(
        reparsed.verify(&pk, &h).expect_err("high S").class(),
        ErrorClass::SignatureInvalid
    );
    // The same for the global signature.
    let mut bumped = sig.clone();
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let s = u16::from(bumped.global_signature[32 + i]) + u16::from(*l) + carry;
        bumped.global_signature[32 + i] = s as u8;
        carry = s >> 8;
    }
    assert_eq!(
        bumped.verify(&pk, &h).expect_err("high S global").class(),
        ErrorClass::SignatureInvalid
    );
}

#[test]
fn weak_identity_key_with_trivial_signature_is_rejected() {
    // With A = identity, R = identity and S = 0, the cofactorless
    // equation [S]B = R + [k]A holds for every message: any lax verifier
    // accepts this "signature". verify_strict refuses weak keys.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let key_id = KeyId::from_bytes(*b"weakweak");
    let pk = PublicKey::from_parts_unchecked(key_id, identity);
    let mut trivial = [0u8; 64];
    trivial[0] = 1;
    let h = blake2b512(b"anything");
    let forged = SignatureFile {
        untrusted_comment: String::new(),
        algorithm: Algorithm::Prehashed,
        key_id,
        signature: trivial,
        trusted_comment: TC.to_owned(),
        global_signature: trivial,
    };
    assert_eq!(
        forged.verify(&pk, &h).expect_err("weak key").class(),
        ErrorClass::SignatureInvalid
    );
}

#[test]
fn parse_rejects_wrong_line_structure() {
    let (_, sig, _) = signed();
    let good = String::from_utf8(sig.to_bytes()).expect("ascii");
    let lines: Vec<&str> = good.lines().collect();
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "expected exactly 4 lines, found 1"),
        (good.replace('\n', "\r\n"), "line 1: contains CR"),
        (
            good.replacen('\n', "\r\n", 3).replacen("\r\n", "\n", 2),
            "line 3: contains CR",
        ),
        (format!("{good}\n"), "expected exactly 4 lines, found 5"),
        (
            format!("{good}extra\n"),
            "expected exactly 4 lines, found 5",
        ),
        (format!("\n{good}"), "expected exactly 4 lines, found 5"),
        (lines[..3].join("\n"), "expected exactly 4 lines, found 3"),
        (
            good.replacen("untrusted comment: ", "Untrusted comment: ", 1),
            "line 1: must start",
        ),
        (
            good.replacen("untrusted comment: ", "untrusted comment:", 1),
            "line 1: must start",
        ),
        (
            good.replacen("trusted comment: certferry", "trusted comment:certferry", 1),
            "line 3: must start",
        ),
        (
            format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[3], lines[2]),
            "line 3: must start",
        ),
        (
            format!("{}\n{} \n{}\n{}\n", lines[0], lines[1], lines[2], lines[3]),
            "line 2: expected 100 base64",
        ),
        (
            format!("{}\n{}\n{}\n {}\n", lines[0], lines[1], lines[2], lines[3]),
            "line 4: expected 88 base64",
        ),
    ];
    for (input, want) in cases {
        let e = malformed(input.as_bytes());
        assert!(
            e.message().starts_with(want),
            "{input:?}: got {e}, want {want}"
        );
    }
}

#[test]
fn parse_rejects_bad_base64_and_lengths() {
    let (_, sig, _) = signed();
    let good = String::from_utf8(sig.to_bytes()).expect("ascii");
    let lines: Vec<&str> = good.lines().collect();
    let join = |l2: &str, l4: &str| format!("{}\n{l2}\n{}\n{l4}\n", lines[0], lines[2]);
    // Non-canonical: 74 and 64 bytes leave unused bits in the last
    // base64 character before the padding; setting one must be refused.
    let noncanon = crate::keys::tests::set_unused_base64_bit(lines[1]);
    let noncanon4 = crate::keys::tests::set_unused_base64_bit(lines[3]);
    let short_blob = BASE64.encode([0u8; 73]);
    let e = malformed(join(&format!("{short_blob}A"), lines[3]).as_bytes());
    assert!(e.message().starts_with("line 2:"), "{e}");
    for (l2, l4, line) in [
        (noncanon.as_str(), lines[3], "line 2:"),
        (&lines[1].replace('R', "!"), lines[3], "line 2:"),
        (lines[1], &lines[3].replace("==", "=A"), "line 4:"),
        (lines[1], noncanon4.as_str(), "line 4:"),
        (lines[1], &BASE64.encode([0u8; 63]), "line 4:"),
        (lines[1], lines[1], "line 4:"),
    ] {
        let e = malformed(join(l2, l4).as_bytes());
        assert!(e.message().starts_with(line), "{e}");
    }
}

#[test]
fn parse_rejects_unknown_algorithm() {
    let (_, sig, _) = signed();
    for alg in [b"ed", b"EE", b"\0\0"] {
        let bytes = with_blob(&sig, |b| b[..2].copy_from_slice(alg));
        let e = malformed(&bytes);
        assert!(e.message().contains("unknown signature algorithm"), "{e}");
    }
}

#[test]
fn parse_rejects_non_printable_comments() {
    let (_, sig, _) = signed();
    let good = String::from_utf8(sig.to_bytes()).expect("ascii");
    for bad in ["\t", "\x7f", "\x1b[31m", "é", "\0"] {
        let uc = good.replacen("certferry\n", &format!("certferry{bad}\n"), 1);
        assert!(malformed(uc.as_bytes()).message().starts_with("line 1:"));
        let tc = good.replacen("sha256=", &format!("sha256={bad}"), 1);
        assert!(malformed(tc.as_bytes()).message().starts_with("line 3:"));
    }
}

#[test]
fn sign_trusted_comment_limit_is_what_minisign_reads() {
    let (pk, sk) = keys();
    let h = blake2b512(b"x");
    let max = "a".repeat(SignatureFile::SIGN_MAX_TRUSTED_COMMENT_LEN);
    let sig = SignatureFile::sign(&sk, &h, &max, "").expect("at the limit");
    let parsed = SignatureFile::parse(&sig.to_bytes()).expect("parse at limit");
    parsed.verify(&pk, &h).expect("verify at limit");
    let e = SignatureFile::sign(&sk, &h, &format!("{max}a"), "").expect_err("over");
    assert_eq!(e.class(), ErrorClass::SignatureMalformed);
}

#[test]
fn parse_trusted_comment_limit_is_spec_8192_bytes() {
    let (_, sig, _) = signed();
    let text = String::from_utf8(sig.to_bytes()).expect("ascii");
    let at = "a".repeat(SignatureFile::MAX_TRUSTED_COMMENT_LEN);
    let with = |c: &str| text.replacen(TC, c, 1);
    let parsed = SignatureFile::parse(with(&at).as_bytes()).expect("8192 bytes parse");
    assert_eq!(parsed.trusted_comment().len(), 8192);
    let e = malformed(with(&format!("{at}a")).as_bytes());
    assert!(e.message().starts_with("line 3:"), "{e}");
    assert!(e.message().contains("8193 bytes"), "{e}");
}

#[test]
fn sign_untrusted_comment_limit_is_what_minisign_reads() {
    let (_, sk) = keys();
    let h = blake2b512(b"x");
    let max = "u".repeat(SignatureFile::SIGN_MAX_UNTRUSTED_COMMENT_LEN);
    let sig = SignatureFile::sign(&sk, &h, "t", &max).expect("at the limit");
    SignatureFile::parse(&sig.to_bytes()).expect("parse at limit");
    let e = SignatureFile::sign(&sk, &h, "t", &format!("{max}u")).expect_err("over");
    assert_eq!(e.class(), ErrorClass::SignatureMalformed);
    // Parsing follows SPEC.md: no untrusted comment limit but the file size.
    let text = String::from_utf8(sig.to_bytes()).expect("ascii");
    let long = text.replacen(&max, &"u".repeat(10_000), 1);
    SignatureFile::parse(long.as_bytes()).expect("long untrusted comment parses");
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let big = vec![b'a'; SignatureFile::MAX_FILE_LEN + 1];
    assert!(malformed(&big).message().contains("more than the maximum"));
}

#[test]
fn sign_refuses_newline_in_comments() {
    let (_, sk) = keys();
    let h = blake2b512(b"x");
    for (tc, uc) in [("a\nb", "u"), ("t", "a\nb"), ("a\rb", "u"), ("t", "a\tb")] {
        assert_eq!(
            SignatureFile::sign(&sk, &h, tc, uc)
                .expect_err("refused")
                .class(),
            ErrorClass::SignatureMalformed
        );
    }
}

#[test]
fn verifies_signature_made_by_minisign_crate() {
    // Independent implementation: rust-minisign 0.10 signs with ED by default.
    let kp = minisign::KeyPair::generate_unencrypted_keypair().expect("gen");
    let data = b"some bundle";
    let sig_box = minisign::sign(
        Some(&kp.pk),
        &kp.sk,
        std::io::Cursor::new(data),
        Some(TC),
        Some("from rust-minisign"),
    )
    .expect("sign");
    let pk = PublicKey::from_base64(&kp.pk.to_base64()).expect("pk");
    let parsed = SignatureFile::parse(sig_box.to_string().as_bytes()).expect("parse");
    parsed.verify(&pk, &blake2b512(data)).expect("verify");
    assert_eq!(parsed.trusted_comment(), TC);
}

#[test]
fn minisign_crate_verifies_our_signature() {
    let (pk, sig, _) = signed();
    let their_pk = minisign::PublicKey::from_base64(&pk.to_base64()).expect("pk");
    let sig_box =
        minisign::SignatureBox::from_string(std::str::from_utf8(&sig.to_bytes()).expect("ascii"))
            .expect("parse");
    minisign::verify(
        &their_pk,
        &sig_box,
        std::io::Cursor::new(b"bundle bytes"),
        true,
        false,
        false,
    )
    .expect("rust-minisign verifies");
}
