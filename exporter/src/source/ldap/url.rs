//! `ldap://` and `ldaps://` URLs: scheme, host, port, and how they are shown.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The parts of an LDAP URL this source uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServerUrl {
    pub(super) tls: bool,
    pub(super) host: String,
    pub(super) port: u16,
}

impl ServerUrl {
    pub(super) fn parse(url: &str) -> Result<Self, SourceError> {
        let bad = |why: &str| SourceError::Connect(format!("invalid LDAP URL {url:?}: {why}"));
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "ldaps://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "ldap://") {
            (false, r)
        } else {
            return Err(bad("use ldap://host[:port] or ldaps://host[:port]"));
        };
        let hostport = rest.strip_suffix('/').unwrap_or(rest);
        if hostport.contains(['/', '?', '@', ' ']) {
            return Err(bad(
                "give only a host and an optional port (the base DN is a separate option)",
            ));
        }
        let default_port = if tls { 636 } else { 389 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("unexpected text after ]")),
            };
            (format!("[{addr}]"), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("bad port"))?,
            None => default_port,
        };
        Ok(Self { tls, host, port })
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "ldaps" } else { "ldap" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

pub(super) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}
