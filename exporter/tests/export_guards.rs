//! What the exporter refuses, and what it leaves behind when it is stopped:
//! empty and shrunk snapshots, truncated dumps, paths that are not what they
//! should be, a full disk, signals at random points, temp files left by
//! SIGKILL, untrusted text on the terminal, and warnings grouped on stderr.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::repo_root;
use common::work::{assert_failed_cleanly, bin, ok_json, Work};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One LDIF user record `name` with the given extra lines (each ends in LF).
fn user_record(name: &str, n: u32, extra: &str) -> String {
    let guid: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(7) ^ (n as u8)).collect();
    format!(
        "dn: CN={name},OU=Users,DC=contoso,DC=test\nobjectClass: user\n\
         objectGUID:: {}\nsAMAccountName: {name}\nuserPrincipalName: {name}@contoso.test\n\
         mail: {name}@contoso.test\nproxyAddresses: SMTP:{name}@contoso.test\n\
         userAccountControl: 512\n{extra}\n",
        b64(&guid)
    )
}

fn pki(rel: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/pki").join(rel)).unwrap()
}

fn export_file(w: &Work, file: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("ldif")
        .arg(file)
        .args(w.output_args())
        .args(extra)
        .output()
        .unwrap()
}

/// `fixtures/directory/bulk N --ad` into `path`.
fn bulk(path: &Path, n: u32) {
    let status = Command::new(repo_root().join("fixtures/directory/bulk"))
        .args([n.to_string().as_str(), "--ad"])
        .stdout(std::fs::File::create(path).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_empty_ldif_exits_6_unless_allow_empty() {
    let w = Work::new();
    let empty = w.path("empty.ldif");
    std::fs::write(&empty, "").unwrap();
    let out = export_file(&w, &empty, &[]);
    assert_failed_cleanly(&out, 6, "holds no directory object", &w);
    assert!(stderr(&out).contains("--allow-empty"), "{}", stderr(&out));
    assert!(!w.path("state.json").exists());

    let ok = ok_json(&export_file(&w, &empty, &["--allow-empty"]));
    assert_eq!(ok["summary"]["entries"], 0);
    assert_eq!(w.files().len(), 2, "{:?}", w.files());
}

#[test]
fn objects_without_certificates_only_exit_6_naming_the_count() {
    let w = Work::new();
    let f = w.path("nocerts.ldif");
    std::fs::write(
        &f,
        format!("{}{}", user_record("ann", 1, ""), user_record("ben", 2, "")),
    )
    .unwrap();
    let out = export_file(&w, &f, &[]);
    assert_failed_cleanly(
        &out,
        6,
        "2 directory objects read, none with a certificate",
        &w,
    );
}

#[test]
fn a_truncated_ldif_exits_3_naming_the_line_and_writes_nothing() {
    let w = Work::new();
    let full = std::fs::read(repo_root().join("fixtures/directory/ad-dump.ldif")).unwrap();
    let text = String::from_utf8(full.clone()).unwrap();
    // Cut inside the first base64 certificate line.
    let inside = text.find("userCertificate:: ").unwrap() + 40;
    let cut = w.path("cut.ldif");
    std::fs::write(&cut, &full[..inside]).unwrap();
    let line = text[..inside].matches('\n').count() + 1;
    assert_failed_cleanly(
        &export_file(&w, &cut, &[]),
        3,
        &format!("cut.ldif line {line}: the file ends in the middle of a line"),
        &w,
    );
    // Cut just after a dn: line (the record's LF is there, the rest is not).
    let second = text.match_indices("\ndn: ").nth(3).unwrap().0 + 1;
    let dn_end = second + text[second..].find('\n').unwrap() + 1;
    std::fs::write(&cut, &full[..dn_end]).unwrap();
    assert_failed_cleanly(
        &export_file(&w, &cut, &[]),
        3,
        "the file ends right after this dn: line",
        &w,
    );
}

#[test]
fn an_unencoded_binary_value_exits_3_saying_so() {
    let w = Work::new();
    let f = w.path("raw.ldif");
    let mut bytes = user_record("ann", 1, "").into_bytes();
    bytes.truncate(bytes.len() - 1); // reopen the record
    bytes.extend_from_slice(b"userCertificate: ");
    bytes.extend_from_slice(&pki("certs/alice.der")[..64]);
    bytes.extend_from_slice(b"\n\n");
    std::fs::write(&f, bytes).unwrap();
    assert_failed_cleanly(&export_file(&w, &f, &[]), 3, "binary bytes", &w);
}

#[test]
fn a_shrunk_snapshot_exits_6_and_allow_shrink_accepts_it_once() {
    let w = Work::new();
    let (big, small) = (w.path("big.ldif"), w.path("small.ldif"));
    bulk(&big, 100);
    bulk(&small, 60);
    let first = ok_json(&export_file(&w, &big, &[]));
    assert_eq!(first["summary"]["entries"], 100);
    let state_before = std::fs::read(w.path("state.json")).unwrap();
    let files_before = w.files();

    let out = export_file(&w, &small, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.contains("this snapshot has 60 entries, the last one (sequence 1, 2026-06-01T00:00:00Z) had 100: 40 fewer (40%)"),
        "{err}"
    );
    assert_eq!(w.files(), files_before, "nothing new written");
    assert_eq!(std::fs::read(w.path("state.json")).unwrap(), state_before);

    // A looser limit lets it through; so does --allow-shrink, once.
    let out = export_file(&w, &small, &["--max-shrink-percent", "50"]);
    assert_eq!(ok_json(&out)["sequence"], 2);
    bulk(&small, 20);
    assert_eq!(export_file(&w, &small, &[]).status.code(), Some(6));
    assert_eq!(
        ok_json(&export_file(&w, &small, &["--allow-shrink"]))["sequence"],
        3
    );
    assert_eq!(ok_json(&export_file(&w, &small, &[]))["sequence"], 4);
}

#[test]
fn an_output_path_that_is_a_file_is_named_as_a_file() {
    let w = Work::new();
    let file = w.path("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = bin()
        .arg("ldif")
        .arg(repo_root().join("fixtures/directory/ad-dump.ldif"))
        .args(w.output_args().into_iter().map(|a| {
            if a == w.out().to_str().unwrap() {
                file.to_str().unwrap().to_owned()
            } else {
                a
            }
        }))
        .output()
        .unwrap();
    assert_failed_cleanly(&out, 5, "is a file, not a directory", &w);
}

#[test]
fn a_state_file_that_cannot_be_written_fails_before_the_export() {
    let w = Work::new();
    std::fs::write(w.path("blocker"), "a file where a folder should be").unwrap();
    let state = w.path("blocker/state.json");
    let args: Vec<String> = w
        .output_args()
        .into_iter()
        .map(|a| {
            if a == w.path("state.json").to_str().unwrap() {
                state.to_str().unwrap().to_owned()
            } else {
                a
            }
        })
        .collect();
    let out = bin()
        .arg("ldif")
        .arg(repo_root().join("fixtures/directory/ad-dump.ldif"))
        .args(args)
        .output()
        .unwrap();
    assert_failed_cleanly(&out, 5, "nothing was exported", &w);
}

#[test]
fn a_full_disk_names_the_output_folder_and_leaves_nothing() {
    let w = Work::new();
    let big = w.path("big.ldif");
    bulk(&big, 2000);
    // RLIMIT_FSIZE stands in for a full disk: writes past 256 KiB fail (EFBIG,
    // with SIGXFSZ ignored) as they would with ENOSPC.
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 256; exec \"$@\"")
        .arg("bash")
        .arg(env!("CARGO_BIN_EXE_certferry-export"))
        .arg("ldif")
        .arg(&big)
        .args(w.output_args());
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert_failed_cleanly(
        &out,
        5,
        &format!("cannot write the bundle into {}", w.out().display()),
        &w,
    );
    assert!(err.contains("nothing was written"), "{err}");
}

#[test]
fn a_temp_file_left_by_sigkill_is_removed_by_the_next_run() {
    let w = Work::new();
    let big = w.path("big.ldif");
    bulk(&big, 8_000);
    let mut child = bin()
        .arg("ldif")
        .arg(&big)
        .args(w.output_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while w.files().is_empty() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    let left = w.files();
    assert!(
        left.iter()
            .any(|f| f.starts_with(".certferry-") && f.ends_with(".zip.tmp")),
        "SIGKILL should leave the temp bundle: {left:?}"
    );
    let out = w.export_ldif(&[]);
    let err = stderr(&out);
    ok_json(&out);
    assert!(err.contains("left by an export that was killed"), "{err}");
    assert!(
        !w.files().iter().any(|f| f.ends_with(".tmp")),
        "{:?}",
        w.files()
    );
}

/// A tiny deterministic generator (xorshift), so a failing round can be rerun.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigint_sigterm_and_sighup_at_random_points_leave_nothing_or_everything() {
    let w = Work::new();
    let big = w.path("big.ldif");
    bulk(&big, 8_000);
    // How long a whole export takes here, so that signals land all along it:
    // the faster of two runs (the first one reads a cold cache, and one slow
    // run would push most signal points past the end of the later ones).
    let mut whole = u64::MAX;
    let mut full = serde_json::Value::Null;
    for _ in 0..2 {
        let t0 = Instant::now();
        full = ok_json(
            &bin()
                .arg("ldif")
                .arg(&big)
                .args(w.output_args())
                .output()
                .unwrap(),
        );
        whole = whole.min(t0.elapsed().as_millis() as u64);
        for f in w.files() {
            std::fs::remove_file(w.out().join(f)).unwrap();
        }
        std::fs::remove_file(w.path("state.json")).unwrap();
    }
    let mut rng = Rng(0x5eed_cafe_f00d);
    let mut interrupted = [0; 3];
    for round in 0..12 {
        let signal = ["INT", "TERM", "HUP"][round % 3];
        let at = 20 + rng.below(whole + 200);
        let child = bin()
            .arg("ldif")
            .arg(&big)
            .args(w.output_args())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(at));
        let _ = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        let files = w.files();
        match out.status.code() {
            Some(0) => {
                // The signal came after the last file was in place: all of it is.
                assert_eq!(ok_json(&out)["sha256"], full["sha256"], "round {round}");
                assert_eq!(
                    files.len(),
                    2,
                    "round {round} ({signal} at {at} ms): {files:?}"
                );
                for f in files {
                    std::fs::remove_file(w.out().join(f)).unwrap();
                }
                std::fs::remove_file(w.path("state.json")).unwrap();
            }
            Some(130) => {
                interrupted[round % 3] += 1;
                assert!(
                    files.is_empty(),
                    "round {round} ({signal} at {at} ms): left {files:?}"
                );
                assert!(
                    !w.path("state.json").exists(),
                    "round {round}: state advanced"
                );
            }
            other => {
                // Before the handler was installed the default action ends the
                // process; it had not written anything yet.
                assert_eq!(
                    other,
                    None,
                    "round {round} ({signal} at {at} ms): {}",
                    stderr(&out)
                );
                assert!(
                    files.is_empty(),
                    "round {round} ({signal} at {at} ms): left {files:?}"
                );
            }
        }
    }
    // The points are spread over the whole run: each signal interrupted one.
    assert!(
        interrupted.iter().all(|&n| n > 0),
        "interrupted per signal {interrupted:?} (whole export {whole} ms)"
    );
}

#[test]
fn escape_sequences_in_the_ldif_reach_the_terminal_escaped() {
    let w = Work::new();
    let f = w.path("evil.ldif");
    // In an error message: an invalid attribute description.
    std::fs::write(&f, "dn: CN=x,DC=test\nevil\x1b]0;pwned\x07: v\n\n").unwrap();
    let out = export_file(&w, &f, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        !out.stderr.contains(&0x1b),
        "raw ESC on the terminal: {err:?}"
    );
    assert!(err.contains("evil\\x1b]0;pwned\\x07"), "{err}");

    // In a warning: a user name with ESC, whose value is not a certificate.
    let name = "mallory\u{1b}[2J\u{202e}";
    let rec = user_record(
        "mallory",
        9,
        &format!(
            "displayName:: {}\nuserCertificate:: {}\n",
            b64(name.as_bytes()),
            b64(b"not a certificate")
        ),
    )
    .replace(
        "userPrincipalName: mallory@contoso.test",
        &format!(
            "userPrincipalName:: {}",
            b64(format!("{name}@contoso.test").as_bytes())
        ),
    );
    let good = user_record(
        "ann",
        1,
        &format!("userCertificate:: {}\n", b64(&pki("certs/alice.der"))),
    );
    std::fs::write(&f, format!("{good}{rec}")).unwrap();
    let out = export_file(&w, &f, &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        !out.stderr.contains(&0x1b),
        "raw ESC on the terminal: {err:?}"
    );
    assert!(
        err.contains("mallory\\x1b[2J\\u{202e}@contoso.test"),
        "{err}"
    );
}

#[test]
fn warnings_go_to_stderr_grouped_by_kind_and_all_of_them_to_json() {
    let w = Work::new();
    let f = w.path("warn.ldif");
    let mut text = user_record(
        "ann",
        1,
        &format!("userCertificate:: {}\n", b64(&pki("certs/alice.der"))),
    );
    for i in 0..7u32 {
        text += &user_record(
            &format!("junk{i}"),
            10 + i,
            &format!(
                "userCertificate:: {}\n",
                b64(format!("junk {i}").as_bytes())
            ),
        );
    }
    std::fs::write(&f, text).unwrap();
    // Text mode: the summary on stdout, warnings grouped on stderr.
    let args: Vec<String> = w
        .output_args()
        .into_iter()
        .filter(|a| a != "--json")
        .collect();
    let out = bin().arg("ldif").arg(&f).args(&args).output().unwrap();
    let (so, se) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "{se}");
    assert!(!so.contains("warning"), "warnings on stdout: {so}");
    assert!(
        se.contains("warning    7 x unparseable-value, for example:"),
        "{se}"
    );
    assert_eq!(
        se.matches("is neither a certificate nor a PKCS#7 blob")
            .count(),
        3,
        "{se}"
    );
    assert!(se.contains("… and 4 more"), "{se}");
    assert!(
        so.contains("skipped") || !so.contains("skipped    0"),
        "{so}"
    );
    // JSON: every warning.
    for f in w.files() {
        std::fs::remove_file(w.out().join(f)).unwrap();
    }
    std::fs::remove_file(w.path("state.json")).unwrap();
    let j = ok_json(&export_file(&w, &f, &[]));
    let warnings = j["summary"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 7, "{j}");
    assert!(warnings.iter().all(|x| x["kind"] == "unparseable-value"));
}

#[test]
fn the_summary_names_why_objects_were_skipped() {
    let w = Work::new();
    let f = w.path("skip.ldif");
    let cert = format!("userCertificate:: {}\n", b64(&pki("certs/alice.der")));
    let disabled =
        user_record("dis", 2, &cert).replace("userAccountControl: 512", "userAccountControl: 514");
    let text = format!(
        "{}{}{}dn: CN=pc1,DC=contoso,DC=test\nobjectClass: computer\ncn: pc1\n\n",
        user_record("ann", 1, &cert),
        disabled,
        user_record("nocert", 3, ""),
    );
    std::fs::write(&f, text).unwrap();
    let args: Vec<String> = w
        .output_args()
        .into_iter()
        .filter(|a| a != "--json")
        .collect();
    let out = bin().arg("ldif").arg(&f).args(&args).output().unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(so.contains("skipped    3 objects:"), "{so}");
    assert!(
        so.contains("1 disabled accounts (--include-disabled exports them)"),
        "{so}"
    );
    assert!(so.contains("1 without a certificate value"), "{so}");
    assert!(so.contains("1 neither users nor contacts"), "{so}");
}
