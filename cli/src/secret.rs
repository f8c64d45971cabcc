//! Passwords: where they come from (a file, an environment variable, or a
//! terminal prompt; never the command line) and a wrapper that never prints them.
//!
//! Shared by `certferry-export` (LDAP bind password, signing key password) and
//! `certferry-import` (key and client secret passwords).

use std::fmt;
use std::path::PathBuf;

/// A password. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The password, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// Where to read a password from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The whole content of a file, like `ldapsearch -y` (one trailing newline is removed).
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// Ask on the terminal without echo.
    Prompt,
}

/// Why a password could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PasswordError(pub String);

impl PasswordSource {
    /// Picks the source from the usual trio of options: a file, else an
    /// environment variable, else a prompt (only on a terminal).
    pub fn choose(file: Option<PathBuf>, env: Option<String>) -> Self {
        match (file, env) {
            (Some(f), _) => Self::File(f),
            (None, Some(e)) => Self::Env(e),
            (None, None) => Self::Prompt,
        }
    }

    /// Reads the password. `what` names it in the prompt and in errors.
    pub fn read(&self, what: &str) -> Result<Secret, PasswordError> {
        match self {
            Self::File(path) => {
                let mut s = std::fs::read_to_string(path).map_err(|e| {
                    PasswordError(format!(
                        "cannot read the {what} from {}: {e}",
                        path.display()
                    ))
                })?;
                if s.ends_with('\n') {
                    s.pop();
                    if s.ends_with('\r') {
                        s.pop();
                    }
                }
                Ok(Secret(s))
            }
            Self::Env(var) => std::env::var(var).map(Secret).map_err(|_| {
                PasswordError(format!(
                    "environment variable {var} (the {what}) is not set or not UTF-8"
                ))
            }),
            Self::Prompt => {
                use std::io::IsTerminal as _;
                if !std::io::stdin().is_terminal() {
                    return Err(PasswordError(format!(
                        "no {what} given: use a password file or environment variable option (standard input is not a terminal, so there is no prompt)"
                    )));
                }
                rpassword::prompt_password(format!("{what}: "))
                    .map(Secret)
                    .map_err(|e| {
                        PasswordError(format!("cannot read the {what} from the terminal: {e}"))
                    })
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_itself() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn a_password_file_loses_one_trailing_line_end_only() {
        let dir = tempfile::tempdir().unwrap();
        for (content, want) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw\n\n", "pw\n"),
            ("pw", "pw"),
        ] {
            let path = dir.path().join("pw");
            std::fs::write(&path, content).unwrap();
            let got = PasswordSource::File(path).read("password").unwrap();
            assert_eq!(got.expose(), want, "{content:?}");
        }
        let missing = PasswordSource::File(dir.path().join("none")).read("bind password");
        assert!(missing
            .unwrap_err()
            .0
            .starts_with("cannot read the bind password from "));
    }

    #[test]
    fn the_usual_trio_picks_file_then_environment_then_prompt() {
        let f = Some(PathBuf::from("f"));
        let e = Some("E".to_owned());
        assert_eq!(
            PasswordSource::choose(f.clone(), e.clone()),
            PasswordSource::File("f".into())
        );
        assert_eq!(
            PasswordSource::choose(None, e),
            PasswordSource::Env("E".into())
        );
        assert_eq!(PasswordSource::choose(None, None), PasswordSource::Prompt);
    }
}
