//! How a run ends: a [`Failure`] with its exit code and a one-line message
//! that never contains a secret, or an [`Outcome`]. The exit codes are
//! listed once, in [`EXIT_CODES`]; `--help` (cli.rs) and the README are
//! checked against it by tests.

use crate::bundle::LoadError;

/// A failed run: the exit code and the message for standard error.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Bad arguments or policy file (exit 2).
    Usage(String),
    /// The bundle is invalid (exit 3); the message starts with the SPEC.md §10 class.
    Invalid {
        /// The SPEC.md §10 error class, when the format library named one.
        class: Option<String>,
        /// The message.
        message: String,
    },
    /// The secret key could not be used (exit 4).
    Key(String),
    /// State or output could not be read or written (exit 5).
    Output(String),
    /// Exchange Online refused or failed (exit 6): the import is incomplete;
    /// running `apply` again finishes it.
    Tenant(String),
}

impl Failure {
    /// The process exit code (documented in `--help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Invalid { .. } => 3,
            Failure::Key(_) => 4,
            Failure::Output(_) => 5,
            Failure::Tenant(_) => 6,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Key(m) | Failure::Output(m) | Failure::Tenant(m) => m,
            Failure::Invalid { message, .. } => message,
        }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        match &e {
            LoadError::Invalid { error, .. } => Failure::Invalid {
                class: Some(error.class().name().to_owned()),
                message: e.to_string(),
            },
            // A bundle or signature file that cannot be read is a wrong path, not a bad bundle.
            LoadError::Io(m) => Failure::Usage(m.clone()),
            LoadError::State(s) => Failure::Output(s.to_string()),
        }
    }
}

impl From<crate::state::StateError> for Failure {
    fn from(e: crate::state::StateError) -> Self {
        Failure::Output(e.to_string())
    }
}

impl From<crate::certpolicy::SpoolError> for Failure {
    fn from(e: crate::certpolicy::SpoolError) -> Self {
        Failure::Output(e.to_string())
    }
}

impl From<crate::certpolicy::ValuesNotKept> for Failure {
    fn from(e: crate::certpolicy::ValuesNotKept) -> Self {
        Failure::Output(e.to_string())
    }
}

impl From<crate::plan::PlanError> for Failure {
    fn from(e: crate::plan::PlanError) -> Self {
        Failure::Output(e.to_string())
    }
}

impl From<crate::certpolicy::JudgeError> for Failure {
    fn from(e: crate::certpolicy::JudgeError) -> Self {
        match e {
            crate::certpolicy::JudgeError::Load(e) => e.into(),
            crate::certpolicy::JudgeError::Spool(e) => e.into(),
            crate::certpolicy::JudgeError::Invalid(e) => Failure::Invalid {
                class: Some(e.class().name().to_owned()),
                message: e.to_string(),
            },
        }
    }
}

/// A successful run: whether every certificate passed the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: the bundle is valid but some certificates are refused.
    SomeRefused,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::SomeRefused => 1,
        }
    }

    /// From the totals alone.
    pub(crate) fn of_counts(c: &crate::certpolicy::EvaluationCounts) -> Self {
        if c.refused == 0 {
            Outcome::Ok
        } else {
            Outcome::SomeRefused
        }
    }
}

/// The importer's exit codes, the one table: `--help` shows [`EXIT_HELP`],
/// which a test renders from this table, and the README's list is checked
/// against it.
pub const EXIT_CODES: [(u8, &str); 8] = [
    (0, "success: the bundle is valid and every certificate passes the policy"),
    (1, "the bundle is valid, but some certificates are refused by the policy (verify, review, script, trust-store; the outputs are still written, without them), or trust-store left out an expired CA certificate"),
    (2, "usage error, or the policy file is wrong, or trust-store found no accepted certificate to write a store for (nothing written)"),
    (3, "the bundle is invalid: format, signature, threshold or replay error (the error class from SPEC.md section 10 is printed)"),
    (4, "key error: the reviewer's secret key cannot be read or its password is wrong"),
    (5, "state or output error: the import state or an output file cannot be read or written"),
    (6, "Exchange Online refused or failed (plan, apply, doctor): the import is not complete; apply can be run again"),
    (certferry_cli::pipe::BROKEN_PIPE_EXIT, "standard output's reader went away (as `| head` does): the command stopped quietly, as one killed by SIGPIPE would; nothing partial is left"),
];

/// `--help`'s closing text: [`EXIT_CODES`] rendered (a test keeps them equal).
pub const EXIT_HELP: &str = "Exit codes:
  0  success: the bundle is valid and every certificate passes the policy
  1  the bundle is valid, but some certificates are refused by the policy (verify, review, script, trust-store; the outputs are still written, without them), or trust-store left out an expired CA certificate
  2  usage error, or the policy file is wrong, or trust-store found no accepted certificate to write a store for (nothing written)
  3  the bundle is invalid: format, signature, threshold or replay error (the error class from SPEC.md section 10 is printed)
  4  key error: the reviewer's secret key cannot be read or its password is wrong
  5  state or output error: the import state or an output file cannot be read or written
  6  Exchange Online refused or failed (plan, apply, doctor): the import is not complete; apply can be run again
  141  standard output's reader went away (as `| head` does): the command stopped quietly, as one killed by SIGPIPE would; nothing partial is left

Passwords are never accepted on the command line: use a file, an environment variable or the prompt.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_text_is_the_exit_code_table_rendered() {
        let mut want = String::from("Exit codes:\n");
        for (code, text) in EXIT_CODES {
            want += &format!("  {code}  {text}\n");
        }
        want += "\nPasswords are never accepted on the command line: use a file, an environment variable or the prompt.";
        assert_eq!(EXIT_HELP, want);
    }

    #[test]
    fn every_failure_and_outcome_has_its_row() {
        let codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        for f in [
            Failure::Usage(String::new()),
            Failure::Invalid {
                class: None,
                message: String::new(),
            },
            Failure::Key(String::new()),
            Failure::Output(String::new()),
            Failure::Tenant(String::new()),
        ] {
            assert!(codes.contains(&f.exit_code()), "{f:?}");
        }
        for o in [Outcome::Ok, Outcome::SomeRefused] {
            assert!(codes.contains(&o.exit_code()), "{o:?}");
        }
    }

    #[test]
    fn the_readme_lists_every_exit_code() {
        let readme = include_str!("../../README.md");
        let at = readme
            .find("certferry-import exit codes:")
            .expect("the README's importer exit codes");
        let list = &readme[at..readme[at..].find("\n\n").map_or(readme.len(), |e| at + e)];
        for (code, _) in EXIT_CODES {
            assert!(
                list.contains(&format!(" {code} ")),
                "README misses exit code {code}: {list}"
            );
        }
    }
}
