//! Unit tests of `keys.rs`.

use super::*;
use crate::ErrorClass;

fn fixed() -> (PublicKey, SecretKey) {
    keypair_from_seed(&[7u8; 32], [1, 2, 3, 4, 5, 6, 7, 8])
}

#[test]
fn key_id_hex_is_little_endian_uppercase_like_minisign() {
    let id = KeyId::from_bytes([0x68, 0x62, 0xda, 0x75, 0x92, 0x2f, 0x09, 0xb7]);
    // Seen with minisign 0.11: "minisign public key B7092F9275DA6268".
    assert_eq!(id.to_hex(), "B7092F9275DA6268");
    assert_eq!(id.to_string(), "B7092F9275DA6268");
    assert_eq!(KeyId::parse_hex("B7092F9275DA6268"), Some(id));
    assert_eq!(
        KeyId::from_bytes([1, 0, 0, 0, 0, 0, 0, 0]).to_hex(),
        "0000000000000001"
    );
}

#[test]
fn key_id_parse_hex_rejects_lowercase_sign_and_wrong_length() {
    for bad in [
        "b7092f9275da6268",
        "+7092F9275DA6268",
        "B7092F9275DA626",
        "B7092F9275DA62680",
        "",
    ] {
        assert_eq!(KeyId::parse_hex(bad), None, "{bad}");
    }
}

#[test]
fn public_key_base64_and_file_round_trip() {
    let (pk, _) = fixed();
    let b64 = pk.to_base64();
    assert_eq!(b64.len(), PublicKey::BASE64_LEN);
    assert!(b64.starts_with("RW"), "\"Ed\" encodes as RW..: {b64}");
    assert_eq!(PublicKey::from_base64(&b64).expect("parse"), pk);
    let file = pk.to_file_string();
    assert_eq!(
        file,
        format!(
            "untrusted comment: minisign public key {}\n{b64}\n",
            pk.key_id().to_hex().trim_start_matches('0')
        )
    );
    assert_eq!(PublicKey::parse_file(&file).expect("file"), pk);
    assert_eq!(
        PublicKey::parse_file(file.trim_end()).expect("no final LF"),
        pk
    );
    assert_eq!(
        PublicKey::parse_file(&file.replace('\n', "\r\n")).expect("CRLF"),
        pk
    );
    assert_eq!(PublicKey::parse_file(&b64).expect("bare"), pk);
    assert_eq!(
        PublicKey::parse_file(&format!("{b64}\n")).expect("bare LF"),
        pk
    );
}

#[test]
fn public_key_parses_stock_minisign_key() {
    // Written by minisign 0.11 (`minisign -G -W`).
    let file = "untrusted comment: minisign public key B7092F9275DA6268\n\
                RWRoYtp1ki8Jt9U6loe86XiHHfhOrwLhzg6JW7xuDOx+8EC4QdXOy41c\n";
    let pk = PublicKey::parse_file(file).expect("parse");
    assert_eq!(pk.key_id().to_hex(), "B7092F9275DA6268");
    assert_eq!(pk.to_file_string(), file);
}

#[test]
fn public_key_rejects_malformed_input_with_key_class() {
    let (pk, _) = fixed();
    let b64 = pk.to_base64();
    let mut wrong_alg = BASE64.decode(&b64).expect("b64");
    wrong_alg[1] = b'D';
    let cases = [
        String::new(),
        b64[..55].to_owned(),
        format!("{b64}="),
        b64.replace('R', "*"),
        BASE64.encode(&wrong_alg),
        // Identity point: small order, a "weak" key.
        BASE64.encode([b"Ed".as_slice(), &[0; 8], &[1], &[0; 31]].concat()),
        format!("comment without prefix\n{b64}\n"),
        format!("untrusted comment: x\n{b64}\nextra\n"),
        format!("untrusted comment: x\n{b64}\n\n"),
    ];
    for case in cases {
        let e = PublicKey::parse_file(&case).expect_err(&case);
        assert_eq!(e.class(), ErrorClass::Key, "{case}: {e}");
    }
}

/// Flips the lowest bit of the base64 character before the padding:
/// a bit that the decoded bytes do not use (non-canonical encoding).
pub(crate) fn set_unused_base64_bit(b64: &str) -> String {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut chars: Vec<char> = b64.chars().collect();
    let last = chars.iter().position(|&c| c == '=').expect("padded") - 1;
    let pos = alphabet.find(chars[last]).expect("alphabet");
    chars[last] = alphabet.chars().nth(pos ^ 1).expect("alphabet");
    chars.into_iter().collect()
}

#[test]
fn secret_key_rejects_non_canonical_base64_trailing_bits() {
    let (_, sk) = fixed();
    let file = sk.to_file_string(None).expect("write");
    let lines: Vec<&str> = file.lines().collect();
    let tweaked = format!("{}\n{}\n", lines[0], set_unused_base64_bit(lines[1]));
    assert_ne!(tweaked, file);
    let e = SecretKey::from_file_bytes(tweaked.as_bytes(), None).expect_err("trailing bits");
    assert!(e.message().contains("invalid base64"), "{e}");
}

#[test]
fn secret_key_debug_shows_key_id_only() {
    let (_, sk) = fixed();
    let dbg = format!("{sk:?}");
    assert!(dbg.contains(&sk.key_id().to_hex()), "{dbg}");
    assert!(!dbg.contains("signing"), "{dbg}");
}

#[test]
fn unencrypted_secret_key_round_trip() {
    let (pk, sk) = fixed();
    let file = sk.to_file_string(None).expect("write");
    let back = SecretKey::from_file_bytes(file.as_bytes(), None).expect("read");
    assert_eq!(back.public_key(), pk);
    assert_eq!(back.key_id(), sk.key_id());
    // A password given for an unencrypted key is ignored.
    let back = SecretKey::from_file_bytes(file.as_bytes(), Some("x")).expect("read");
    assert_eq!(back.public_key(), pk);
}

#[test]
fn encrypted_secret_key_round_trip_and_wrong_password() {
    let (pk, sk) = fixed();
    let file = sk.to_file_string(Some("correct horse")).expect("write");
    assert!(file.starts_with("untrusted comment: minisign encrypted secret key\nRWRTY0Iy"));
    let back = SecretKey::from_file_bytes(file.as_bytes(), Some("correct horse")).expect("read");
    assert_eq!(back.public_key(), pk);
    let e = SecretKey::from_file_bytes(file.as_bytes(), Some("wrong")).expect_err("wrong pw");
    assert_eq!(e.class(), ErrorClass::Key);
    assert_eq!(
        e.message(),
        "wrong password or corrupt secret key (checksum mismatch)"
    );
    let e = SecretKey::from_file_bytes(file.as_bytes(), None).expect_err("no pw");
    assert_eq!(e.class(), ErrorClass::Key);
    assert!(e.message().contains("password is required"), "{e}");
}

#[test]
fn secret_key_written_by_us_loads_in_minisign_crate() {
    let (pk, sk) = fixed();
    let file = sk.to_file_string(Some("pw")).expect("write");
    // Some(password): the minisign crate does not prompt.
    let theirs = minisign::SecretKey::from_box(file.clone().into(), Some("pw".into()))
        .expect("minisign crate reads our encrypted key");
    assert_eq!(theirs.keynum(), pk.key_id().as_bytes());
    let their_pk = minisign::PublicKey::from_secret_key(&theirs).expect("pk");
    assert_eq!(their_pk.to_base64(), pk.to_base64());
    let file = sk.to_file_string(None).expect("write");
    let theirs = minisign::SecretKey::from_unencrypted_box(file.into())
        .expect("minisign crate reads our unencrypted key");
    assert_eq!(theirs.keynum(), pk.key_id().as_bytes());
}

#[test]
fn secret_key_written_by_minisign_crate_loads() {
    let kp = minisign::KeyPair::generate_encrypted_keypair(Some("pw".into())).expect("generate");
    let file = kp.sk.to_box(None).expect("box").into_string();
    let ours = SecretKey::from_file_bytes(file.as_bytes(), Some("pw")).expect("load");
    assert_eq!(ours.public_key().to_base64(), kp.pk.to_base64());
    assert_eq!(
        SecretKey::from_file_bytes(file.as_bytes(), Some("pW"))
            .expect_err("wrong")
            .class(),
        ErrorClass::Key
    );
}

#[test]
fn stock_unencrypted_key_with_zero_checksum_loads() {
    // `minisign -G -W` (0.11) leaves the checksum all zero.
    let file = "untrusted comment: minisign encrypted secret key\n\
RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAaGLadZIvCbccrmFvnThJGXlgjQX21bT9Pdyh9E76FBpo+RAfI/mTxdU6loe86XiHHfhOrwLhzg6JW7xuDOx+8EC4QdXOy41cAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let sk = SecretKey::from_file_bytes(file.as_bytes(), None).expect("load");
    assert_eq!(sk.key_id().to_hex(), "B7092F9275DA6268");
    assert_eq!(
        sk.public_key().to_base64(),
        "RWRoYtp1ki8Jt9U6loe86XiHHfhOrwLhzg6JW7xuDOx+8EC4QdXOy41c"
    );
}

#[test]
fn corrupt_secret_keys_are_key_errors() {
    let (_, sk) = fixed();
    let file = sk.to_file_string(None).expect("write");
    let lines: Vec<&str> = file.lines().collect();
    let blob = BASE64.decode(lines[1]).expect("b64");
    let reencode = |b: &[u8]| format!("untrusted comment: x\n{}\n", BASE64.encode(b));
    let mut flipped_sk = blob.clone();
    flipped_sk[60] ^= 1; // inside the secret key: checksum mismatch
    let mut bad_kdf = blob.clone();
    bad_kdf[2] = b'X';
    let mut bad_chk_alg = blob.clone();
    bad_chk_alg[4] = b'X';
    let mut bad_alg = blob.clone();
    bad_alg[1] = b'D';
    let cases = [
        reencode(&flipped_sk),
        reencode(&bad_kdf),
        reencode(&bad_chk_alg),
        reencode(&bad_alg),
        reencode(&blob[..blob.len() - 1]),
        lines[1].to_owned(),
        format!("untrusted comment: x\n{}\nmore\n", lines[1]),
        "x".repeat(5000),
    ];
    for case in cases {
        let e = SecretKey::from_file_bytes(case.as_bytes(), None).expect_err(&case);
        assert_eq!(e.class(), ErrorClass::Key, "{e}");
    }
    assert_eq!(
        SecretKey::from_file_bytes(&[0xff, 0xfe], None)
            .expect_err("binary")
            .class(),
        ErrorClass::Key
    );
}

#[test]
fn secret_key_with_mismatched_public_half_is_rejected() {
    let (_, sk) = fixed();
    let mut sk_bytes = sk.signing.to_keypair_bytes();
    sk_bytes[40] ^= 1; // public half
    let id = sk.key_id();
    let chk = secret_key_checksum(id.as_bytes(), &sk_bytes);
    let blob = [
        b"Ed".as_slice(),
        &[0, 0],
        b"B2",
        &[0; 48],
        id.as_bytes(),
        &sk_bytes,
        &chk,
    ]
    .concat();
    let file = format!("untrusted comment: x\n{}\n", BASE64.encode(blob));
    let e = SecretKey::from_file_bytes(file.as_bytes(), None).expect_err("mismatch");
    assert!(e.message().contains("public half"), "{e}");
}

#[test]
fn scrypt_params_match_minisign_defaults() {
    // minisign crate defaults -> N = 2^15, r = 8, p = 1.
    let p = scrypt_params(DEFAULT_OPSLIMIT, DEFAULT_MEMLIMIT).expect("params");
    assert_eq!((p.log_n(), p.r(), p.p()), (15, 8, 1));
    // libsodium "sensitive" limits written by `minisign -G` -> N = 2^20, r = 8, p = 1.
    let p = scrypt_params(33_554_432, 1_073_741_824).expect("params");
    assert_eq!((p.log_n(), p.r(), p.p()), (20, 8, 1));
    assert_eq!(
        scrypt_params(1 << 40, 1 << 30)
            .expect_err("too slow")
            .class(),
        ErrorClass::Key
    );
    assert_eq!(
        scrypt_params(1 << 20, 1 << 31)
            .expect_err("too big")
            .class(),
        ErrorClass::Key
    );
}

#[test]
fn password_that_minisign_cannot_type_is_refused() {
    let (_, sk) = fixed();
    for pw in [
        "a\nb".to_owned(),
        "a\rb".to_owned(),
        "a\0b".to_owned(),
        "p".repeat(1023),
    ] {
        assert_eq!(
            sk.to_file_string(Some(&pw)).expect_err("refused").class(),
            ErrorClass::Key
        );
    }
}

#[test]
fn generated_keypairs_differ_and_match() {
    let (pk1, sk1) = generate_keypair().expect("gen");
    let (pk2, _) = generate_keypair().expect("gen");
    assert_ne!(pk1, pk2);
    assert_eq!(sk1.public_key(), pk1);
}

mod pub_file_key_id_regression {
    use super::*;

    #[test]
    fn pub_file_key_id_has_no_leading_zero_like_minisign() {
        // A key id whose top hex digit is 0: minisign writes 15 digits in the .pub comment.
        let (pk, _) = keypair_from_seed(&[7; 32], [0xc5, 0x9f, 0xc5, 0xd6, 0xa5, 0xa0, 0xc7, 0x04]);
        let text = pk.to_file_string();
        assert!(
            text.starts_with("untrusted comment: minisign public key 4C7A0A5D6C59FC5\n"),
            "{text}"
        );
        assert_eq!(pk.key_id().to_hex(), "04C7A0A5D6C59FC5");
        assert_eq!(PublicKey::parse_file(&text).unwrap(), pk);
    }
}
