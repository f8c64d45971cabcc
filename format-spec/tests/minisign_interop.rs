//! Interoperability with the stock `minisign` tool (jedisct1/minisign, the
//! Debian package `minisign`): signatures and keys made by either side must
//! work on the other.
//!
//! These tests run the real binary. When it is missing they FAIL, saying how
//! to install it: a silently skipped interop test proves nothing.
//!
//! The tests that read `tests/data/minisign/` check bytes the stock tool wrote
//! (see the README there) and need no binary.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use certferry_format::keys::{keypair_from_seed, PublicKey, SecretKey};
use certferry_format::signature::{blake2b512, Algorithm, SignatureFile};
use certferry_format::trusted_comment::TrustedComment;
use certferry_format::{ErrorClass, Role, Sha256, SourceId};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minisign");

/// A `minisign` command, or a failure telling how to install the tool.
fn minisign() -> Command {
    let found = Command::new("minisign")
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("minisign"));
    assert!(
        matches!(found, Ok(true)),
        "the stock `minisign` binary is required by the interop tests but was not found on PATH \
         ({found:?}); install it (Debian/Ubuntu: `apt-get install -y minisign`)"
    );
    let mut cmd = Command::new("minisign");
    // Newer minisign versions read the password from this variable; the
    // tests feed it on stdin, which every version supports.
    cmd.env_remove("MINISIGN_PASSWORD");
    cmd
}

/// Runs `cmd` with `stdin` fed to it (minisign reads passwords from stdin
/// with `fgets` when it is not a terminal), returning the output.
fn run(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn minisign");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for minisign")
}

/// Runs `cmd` and requires success.
fn run_ok(cmd: Command, stdin: &str) -> Output {
    let shown = format!("{cmd:?}");
    let out = run(cmd, stdin);
    assert!(
        out.status.success(),
        "{shown} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write file");
    path
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

fn trusted_comment_for(data: &[u8], role: Role, seq: u64) -> String {
    TrustedComment {
        role,
        source: SourceId::parse("contoso-ad").expect("source id"),
        sequence: seq,
        sha256: Sha256::digest(data),
    }
    .to_string()
}

fn test_keys() -> (PublicKey, SecretKey) {
    keypair_from_seed(&[0x5a; 32], *b"interop!")
}

/// `minisign -V` on `file` and `sig`, with the key inline (`-P`), returning stdout.
fn stock_verify_inline(file: &Path, sig: &Path, pk: &PublicKey) -> String {
    let mut cmd = minisign();
    cmd.arg("-V")
        .arg("-m")
        .arg(file)
        .arg("-x")
        .arg(sig)
        .arg("-P")
        .arg(pk.to_base64());
    String::from_utf8(run_ok(cmd, "").stdout).expect("utf-8 output")
}

#[test]
fn our_signature_verifies_with_stock_minisign_and_shows_trusted_comment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pk, sk) = test_keys();
    let data = b"PK\x03\x04 pretend bundle bytes\n";
    let tc = trusted_comment_for(data, Role::Exporter, 7);
    let file = write(dir.path(), "bundle.zip", data);
    let sig =
        SignatureFile::sign(&sk, &blake2b512(data), &tc, "signature from certferry").expect("sign");
    let sig_path = write(dir.path(), "bundle.zip.exporter.minisig", &sig.to_bytes());

    let stdout = stock_verify_inline(&file, &sig_path, &pk);
    assert!(
        stdout.contains(&format!("Trusted comment: {tc}\n")),
        "minisign output: {stdout}"
    );

    // With the .pub file we write, and requiring the prehashed algorithm (-H).
    let pub_path = write(dir.path(), "exporter.pub", pk.to_file_string().as_bytes());
    let mut cmd = minisign();
    cmd.args(["-V", "-H", "-Q", "-m"])
        .arg(&file)
        .arg("-x")
        .arg(&sig_path)
        .arg("-p")
        .arg(&pub_path);
    let out = run_ok(cmd, "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{tc}\n"));
}

#[test]
fn stock_minisign_rejects_our_signature_on_altered_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pk, sk) = test_keys();
    let sig = SignatureFile::sign(&sk, &blake2b512(b"original"), "t", "u").expect("sign");
    let file = write(dir.path(), "f", b"altered");
    let sig_path = write(dir.path(), "f.minisig", &sig.to_bytes());
    let mut cmd = minisign();
    cmd.arg("-V")
        .arg("-m")
        .arg(&file)
        .arg("-x")
        .arg(&sig_path)
        .arg("-P")
        .arg(pk.to_base64());
    let out = run(cmd, "");
    assert!(
        !out.status.success(),
        "stock minisign accepted an altered file"
    );
}

#[test]
fn our_longest_trusted_comment_verifies_with_stock_minisign() {
    // Pins SIGN_MAX_*_COMMENT_LEN to what minisign can read back.
    let dir = tempfile::tempdir().expect("tempdir");
    let (pk, sk) = test_keys();
    let data = b"x";
    let tc = "t".repeat(SignatureFile::SIGN_MAX_TRUSTED_COMMENT_LEN);
    let uc = "u".repeat(SignatureFile::SIGN_MAX_UNTRUSTED_COMMENT_LEN);
    let sig = SignatureFile::sign(&sk, &blake2b512(data), &tc, &uc).expect("sign");
    let file = write(dir.path(), "f", data);
    let sig_path = write(dir.path(), "f.minisig", &sig.to_bytes());
    let stdout = stock_verify_inline(&file, &sig_path, &pk);
    assert!(stdout.contains(&tc), "minisign output: {stdout}");
}

#[test]
fn stock_signature_and_unencrypted_key_work_with_our_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut cmd = minisign();
    cmd.args(["-G", "-W", "-p"])
        .arg(d.join("k.pub"))
        .arg("-s")
        .arg(d.join("k.key"));
    run_ok(cmd, "");

    let data = b"bundle signed by the stock tool";
    let file = write(d, "bundle.zip", data);
    let tc = trusted_comment_for(data, Role::Reviewer, 12);
    let mut cmd = minisign();
    cmd.args(["-S", "-s"])
        .arg(d.join("k.key"))
        .arg("-m")
        .arg(&file)
        .arg("-t")
        .arg(&tc)
        .arg("-x")
        .arg(d.join("sig"));
    run_ok(cmd, "");

    let pk_text = String::from_utf8(read(&d.join("k.pub"))).expect("ascii");
    let pk = PublicKey::parse_file(&pk_text).expect("stock .pub parses");
    assert_eq!(
        pk.to_file_string(),
        pk_text,
        "we write .pub files byte for byte like minisign"
    );
    let sig = SignatureFile::parse(&read(&d.join("sig"))).expect("stock .minisig parses");
    assert_eq!(sig.algorithm(), Algorithm::Prehashed);
    assert_eq!(sig.key_id(), pk.key_id());
    assert_eq!(sig.trusted_comment(), tc);
    sig.verify(&pk, &blake2b512(data))
        .expect("stock signature verifies");
    assert_eq!(
        TrustedComment::parse(sig.trusted_comment())
            .expect("grammar")
            .role,
        Role::Reviewer
    );
    let e = sig
        .verify(&pk, &blake2b512(b"another file"))
        .expect_err("altered file");
    assert_eq!(e.class(), ErrorClass::SignatureInvalid);
    assert_eq!(
        sig.to_bytes(),
        read(&d.join("sig")),
        "re-serialised byte for byte"
    );

    let sk = SecretKey::from_file_bytes(&read(&d.join("k.key")), None).expect("stock -W key loads");
    assert_eq!(sk.public_key(), pk);
}

#[test]
fn stock_encrypted_key_loads_with_password_and_its_signatures_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let password = "stock pass phrase";
    // -G asks twice; the C tool uses libsodium's "sensitive" scrypt limits.
    let mut cmd = minisign();
    cmd.args(["-G", "-p"])
        .arg(d.join("k.pub"))
        .arg("-s")
        .arg(d.join("k.key"));
    run_ok(cmd, &format!("{password}\n{password}\n"));

    let data = b"signed with an encrypted stock key";
    let file = write(d, "f", data);
    let mut cmd = minisign();
    cmd.args(["-S", "-s"])
        .arg(d.join("k.key"))
        .arg("-m")
        .arg(&file)
        .args(["-t", "encrypted key", "-x"])
        .arg(d.join("sig"));
    run_ok(cmd, &format!("{password}\n"));

    let pk = PublicKey::parse_file(&String::from_utf8(read(&d.join("k.pub"))).expect("ascii"))
        .expect("pub");
    let sig = SignatureFile::parse(&read(&d.join("sig"))).expect("parse");
    sig.verify(&pk, &blake2b512(data)).expect("verify");

    let key_file = read(&d.join("k.key"));
    let sk = SecretKey::from_file_bytes(&key_file, Some(password)).expect("loads with password");
    assert_eq!(sk.public_key(), pk);
    let e = SecretKey::from_file_bytes(&key_file, Some("wrong")).expect_err("wrong password");
    assert_eq!(e.class(), ErrorClass::Key);
    assert_eq!(
        e.message(),
        "wrong password or corrupt secret key (checksum mismatch)"
    );
    let e = SecretKey::from_file_bytes(&key_file, None).expect_err("no password");
    assert_eq!(e.class(), ErrorClass::Key);
}

#[test]
fn our_encrypted_secret_key_signs_with_stock_minisign() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pk, sk) = test_keys();
    let password = "our pass phrase";
    let key = write(
        d,
        "k.key",
        sk.to_file_string(Some(password))
            .expect("write key")
            .as_bytes(),
    );
    let data = b"signed by stock minisign with our key";
    let file = write(d, "f", data);
    let tc = trusted_comment_for(data, Role::Exporter, 3);
    let mut cmd = minisign();
    cmd.args(["-S", "-s"])
        .arg(&key)
        .arg("-m")
        .arg(&file)
        .arg("-t")
        .arg(&tc)
        .arg("-x")
        .arg(d.join("sig"))
        // minisign checks the new signature against this key before writing.
        .arg("-P")
        .arg(pk.to_base64());
    run_ok(cmd, &format!("{password}\n"));
    let sig = SignatureFile::parse(&read(&d.join("sig"))).expect("parse");
    sig.verify(&pk, &blake2b512(data)).expect("verify");
    assert_eq!(sig.trusted_comment(), tc);

    // A wrong password is refused by the stock tool as well.
    let mut cmd = minisign();
    cmd.args(["-S", "-s"])
        .arg(&key)
        .arg("-m")
        .arg(&file)
        .arg("-x")
        .arg(d.join("sig2"));
    let out = run(cmd, "not the password\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Wrong password"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn our_unencrypted_secret_key_signs_with_stock_minisign() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pk, sk) = test_keys();
    let key = write(
        d,
        "k.key",
        sk.to_file_string(None).expect("write key").as_bytes(),
    );
    let file = write(d, "f", b"data");
    let mut cmd = minisign();
    cmd.args(["-S", "-s"])
        .arg(&key)
        .arg("-m")
        .arg(&file)
        .args(["-t", "unencrypted", "-x"])
        .arg(d.join("sig"));
    run_ok(cmd, "");
    let sig = SignatureFile::parse(&read(&d.join("sig"))).expect("parse");
    sig.verify(&pk, &blake2b512(b"data")).expect("verify");
}

#[test]
fn stock_legacy_signature_is_refused_as_signature_algorithm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pk, sk) = test_keys();
    let key = write(
        d,
        "k.key",
        sk.to_file_string(None).expect("write key").as_bytes(),
    );
    let file = write(d, "f", b"legacy");
    let mut cmd = minisign();
    cmd.args(["-S", "-l", "-s"])
        .arg(&key)
        .arg("-m")
        .arg(&file)
        .args(["-t", "legacy", "-x"])
        .arg(d.join("sig"));
    run_ok(cmd, "");
    let sig = SignatureFile::parse(&read(&d.join("sig"))).expect("legacy parses");
    assert_eq!(sig.algorithm(), Algorithm::Legacy);
    let e = sig
        .verify(&pk, &blake2b512(b"legacy"))
        .expect_err("legacy refused");
    assert_eq!(e.class(), ErrorClass::SignatureAlgorithm);
}

#[test]
fn stock_default_trusted_comment_with_tab_is_malformed() {
    // minisign's default trusted comment is "timestamp:<n>\tfile:<name>\thashed";
    // v1 admits printable ASCII only, so it must be given with -t.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (_, sk) = test_keys();
    let key = write(
        d,
        "k.key",
        sk.to_file_string(None).expect("write key").as_bytes(),
    );
    let file = write(d, "f", b"data");
    let mut cmd = minisign();
    cmd.args(["-S", "-s"])
        .arg(&key)
        .arg("-m")
        .arg(&file)
        .arg("-x")
        .arg(d.join("sig"));
    run_ok(cmd, "");
    let e = SignatureFile::parse(&read(&d.join("sig"))).expect_err("TAB in trusted comment");
    assert_eq!(e.class(), ErrorClass::SignatureMalformed);
    assert!(e.message().starts_with("line 3:"), "{e}");
}

// ---- committed bytes written by minisign 0.11 (no binary needed) ----

fn fixture(name: &str) -> Vec<u8> {
    read(&Path::new(DATA).join(name))
}

#[test]
fn committed_stock_fixture_signature_verifies() {
    let message = fixture("message.txt");
    let pk =
        PublicKey::parse_file(&String::from_utf8(fixture("stock-unencrypted.pub")).expect("ascii"))
            .expect("pub");
    let sig = SignatureFile::parse(&fixture("stock-ed.minisig")).expect("parse");
    sig.verify(&pk, &blake2b512(&message)).expect("verify");
    let tc = TrustedComment::parse(sig.trusted_comment()).expect("grammar");
    assert_eq!(tc.sha256, Sha256::digest(&message));
    assert_eq!(tc.sequence, 1);
    assert_eq!(sig.to_bytes(), fixture("stock-ed.minisig"));
}

#[test]
fn committed_stock_fixture_legacy_signature_is_refused() {
    let pk =
        PublicKey::parse_file(&String::from_utf8(fixture("stock-unencrypted.pub")).expect("ascii"))
            .expect("pub");
    let sig = SignatureFile::parse(&fixture("stock-legacy.minisig")).expect("parse");
    assert_eq!(sig.algorithm(), Algorithm::Legacy);
    assert_eq!(
        sig.verify(&pk, &blake2b512(&fixture("message.txt")))
            .expect_err("legacy")
            .class(),
        ErrorClass::SignatureAlgorithm
    );
}

#[test]
fn committed_stock_fixture_unencrypted_key_with_zero_checksum_loads() {
    let pk =
        PublicKey::parse_file(&String::from_utf8(fixture("stock-unencrypted.pub")).expect("ascii"))
            .expect("pub");
    let sk = SecretKey::from_file_bytes(&fixture("stock-unencrypted.key"), None).expect("key");
    assert_eq!(sk.public_key(), pk);
    // Our signature with the stock key verifies against the stock public key.
    let h = blake2b512(b"x");
    SignatureFile::sign(&sk, &h, "t", "u")
        .expect("sign")
        .verify(&pk, &h)
        .expect("verify");
}
