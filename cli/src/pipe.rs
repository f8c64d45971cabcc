//! Standard output closed by its reader (`certferry-import verify … | head`).
//!
//! Rust ignores SIGPIPE, so `println!` panics when the reader has gone. A
//! command-line tool should instead stop quietly, as one killed by SIGPIPE
//! would, and still run its destructors: a temporary output file must not be
//! left behind. [`quiet_broken_pipe`] silences that one panic's message, and
//! [`run_until_broken_pipe`] turns it into [`BROKEN_PIPE_EXIT`] after the
//! unwinding has dropped everything the command held. Any other panic is
//! reported and propagated as before.

use std::panic::{self, AssertUnwindSafe};

/// The exit status when standard output's reader went away: 141, what a shell
/// reports for a command killed by SIGPIPE (128 + 13).
pub const BROKEN_PIPE_EXIT: u8 = 141;

/// Whether a panic message is the standard library's for a write to a closed pipe.
fn is_broken_pipe(message: &str) -> bool {
    (message.starts_with("failed printing to stdout")
        || message.starts_with("failed printing to stderr"))
        && message.contains("Broken pipe")
}

fn message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

/// Installs a panic hook that prints nothing for a write to a closed pipe and
/// defers to the previous hook for every other panic.
pub fn quiet_broken_pipe() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !is_broken_pipe(message(info.payload())) {
            previous(info);
        }
    }));
}

/// Runs `main`; a panic from writing to a closed pipe becomes
/// `Err(BROKEN_PIPE_EXIT)` once unwinding has run every destructor. Other
/// panics continue to unwind.
pub fn run_until_broken_pipe<T>(main: impl FnOnce() -> T) -> Result<T, u8> {
    match panic::catch_unwind(AssertUnwindSafe(main)) {
        Ok(v) => Ok(v),
        Err(payload) if is_broken_pipe(message(payload.as_ref())) => Err(BROKEN_PIPE_EXIT),
        Err(payload) => panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_standard_librarys_closed_pipe_message_counts() {
        assert!(is_broken_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_broken_pipe("Broken pipe"));
    }

    #[test]
    fn a_closed_pipe_panic_becomes_141_after_destructors_ran() {
        struct Flag<'a>(&'a std::cell::Cell<bool>);
        impl Drop for Flag<'_> {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = std::cell::Cell::new(false);
        let r = run_until_broken_pipe(|| {
            let _f = Flag(&dropped);
            panic!("failed printing to stdout: Broken pipe (os error 32)");
        });
        assert_eq!(r, Err(BROKEN_PIPE_EXIT));
        assert!(dropped.get(), "the command's destructors ran");
        assert_eq!(run_until_broken_pipe(|| 7), Ok(7));
    }

    #[test]
    fn any_other_panic_still_unwinds() {
        let r = panic::catch_unwind(|| run_until_broken_pipe(|| panic!("something else")));
        assert!(r.is_err());
    }
}
