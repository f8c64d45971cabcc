//! ldap3 panics on some malformed server messages (its control parsers use
//! `expect` and `panic!`, see vendor/README.md). Such a panic is a malformed
//! response from the server, not a bug of ours: the administrator gets a
//! one-line error naming the server, not a panic message.
//!
//! [`install_hook`] keeps the message of a panic raised inside ldap3 instead
//! of printing it (every other panic goes to the previous hook, unchanged);
//! [`catching`] turns a panic of the code it runs into that message. A panic
//! of ldap3's connection task is caught by tokio; its message is kept too and
//! read with [`take_message`].

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once};

/// The message of the last panic raised inside ldap3, not yet reported.
static LAST: Mutex<Option<String>> = Mutex::new(None);

/// True for a panic location inside ldap3 (vendored or from the registry).
fn in_ldap3(file: &str) -> bool {
    file.contains("ldap3/src/") || file.contains("ldap3-")
}

/// Installs the panic hook, once per process.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| in_ldap3(l.file())) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned());
                if let Ok(mut last) = LAST.lock() {
                    *last = Some(message);
                }
            } else {
                previous(info);
            }
        }));
    });
}

/// The message of an ldap3 panic not yet reported, if there was one.
pub(crate) fn take_message() -> Option<String> {
    LAST.lock().ok().and_then(|mut last| last.take())
}

/// Runs `f`; a panic inside ldap3 becomes `Err` with its message. A panic
/// anywhere else is not ours to hide: it continues.
pub(crate) fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => match take_message() {
            Some(message) => Err(message),
            None => panic::resume_unwind(payload),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ldap3_locations_count_as_ldap3() {
        assert!(in_ldap3("vendor/ldap3/src/controls_impl/paged_results.rs"));
        assert!(in_ldap3(
            "/root/.cargo/registry/src/index.crates.io-x/ldap3-0.12.1/src/protocol.rs"
        ));
        assert!(!in_ldap3("exporter/src/source/ldap.rs"));
        assert!(!in_ldap3("/rustc/abc/library/core/src/option.rs"));
    }
}
