//! The Microsoft clouds certferry can import into, and the two endpoints of
//! each (docs/exchange-wire-protocol.md, "Clouds"; Microsoft's national-cloud
//! authentication and Connect-ExchangeOnline documentation).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use reqwest::Url;

/// A Microsoft cloud, chosen by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// The worldwide cloud (`global`).
    Global,
    /// Microsoft 365 GCC High (`gcc-high`).
    GccHigh,
    /// Microsoft 365 DoD (`dod`).
    Dod,
    /// Microsoft 365 operated by 21Vianet (`china`, also `21vianet`).
    China,
}

impl Cloud {
    /// Every cloud, in the order of the table.
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::GccHigh, Cloud::Dod, Cloud::China];

    /// The canonical name (`global`, `gcc-high`, `dod`, `china`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::GccHigh => "gcc-high",
            Self::Dod => "dod",
            Self::China => "china",
        }
    }

    /// The sign-in (token) base URL.
    pub fn login_base(self) -> &'static str {
        match self {
            Self::Global => "https://login.microsoftonline.com",
            Self::GccHigh | Self::Dod => "https://login.microsoftonline.us",
            Self::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// The Exchange Online base URL (also the token's resource: `{exo}/.default`).
    pub fn exo_base(self) -> &'static str {
        match self {
            Self::Global => "https://outlook.office365.com",
            Self::GccHigh => "https://outlook.office365.us",
            Self::Dod => "https://webmail.apps.mil",
            Self::China => "https://partner.outlook.cn",
        }
    }

    /// The cloud's endpoints.
    pub fn endpoints(self) -> Endpoints {
        // The constants above are valid https URLs (tested), so parsing cannot fail.
        #[allow(clippy::expect_used)]
        let parse = |s: &str| Url::parse(s).expect("built-in cloud URL");
        Endpoints {
            login: parse(self.login_base()),
            exo: parse(self.exo_base()),
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cloud name that is not one of `global`, `gcc-high`, `dod`, `china`, `21vianet`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cloud {0:?} (expected global, gcc-high, dod, china or 21vianet)")]
pub struct UnknownCloud(pub String);

impl FromStr for Cloud {
    type Err = UnknownCloud;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "global" => Ok(Self::Global),
            "gcc-high" => Ok(Self::GccHigh),
            "dod" => Ok(Self::Dod),
            "china" | "21vianet" => Ok(Self::China),
            _ => Err(UnknownCloud(s.to_owned())),
        }
    }
}

/// The two base URLs the client talks to: the token endpoint's host and
/// Exchange Online's. Built from a [`Cloud`], or given explicitly (tests point
/// both at the simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Sign-in base: the token URL is `{login}/{tenant}/oauth2/v2.0/token`.
    pub login: Url,
    /// Exchange Online base: InvokeCommand is `{exo}/adminapi/beta/{tenant}/InvokeCommand`
    /// and the token scope is `{exo}/.default`.
    pub exo: Url,
}

/// Why explicit endpoints were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("endpoint {url}: {reason}")]
pub struct EndpointError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Endpoints {
    /// Explicit endpoints; both must be `https://` base URLs (no query, no fragment,
    /// no credentials).
    pub fn new(login: &str, exo: &str) -> Result<Self, EndpointError> {
        Self::build(login, exo, false)
    }

    /// Explicit endpoints that may also be plain `http://` **on a loopback host**
    /// (127.0.0.0/8, `::1`, `localhost`): for the simulator and tests only. Any
    /// other `http://` host is still refused, so a bearer token never crosses a
    /// network in the clear.
    pub fn dangerous_allow_http_loopback(login: &str, exo: &str) -> Result<Self, EndpointError> {
        Self::build(login, exo, true)
    }

    fn build(login: &str, exo: &str, allow_http_loopback: bool) -> Result<Self, EndpointError> {
        Ok(Self {
            login: check_base(login, allow_http_loopback)?,
            exo: check_base(exo, allow_http_loopback)?,
        })
    }

    /// Whether either endpoint is plain HTTP (only possible on loopback).
    pub fn uses_http(&self) -> bool {
        self.login.scheme() == "http" || self.exo.scheme() == "http"
    }

    /// `{login}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", trimmed(&self.login))
    }

    /// `{exo}/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", trimmed(&self.exo))
    }

    /// `{exo}/adminapi/beta/{tenant}/InvokeCommand`.
    pub fn invoke_url(&self, tenant: &str) -> String {
        format!(
            "{}/adminapi/beta/{tenant}/InvokeCommand",
            trimmed(&self.exo)
        )
    }
}

/// The URL without its trailing slash (`Url` always shows at least `/` as the path).
fn trimmed(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

fn check_base(s: &str, allow_http_loopback: bool) -> Result<Url, EndpointError> {
    let fail = |reason: &str| EndpointError {
        url: s.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(s).map_err(|e| fail(&e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(fail("a base URL has no query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fail("credentials do not belong in the URL"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http_loopback && is_loopback(&url) => Ok(url),
        "http" if allow_http_loopback => Err(fail("plain http is allowed only on a loopback host")),
        "http" => Err(fail("must be https")),
        _ => Err(fail("must be an https URL")),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_table() {
        let table = [
            (
                "global",
                "https://login.microsoftonline.com",
                "https://outlook.office365.com",
            ),
            (
                "gcc-high",
                "https://login.microsoftonline.us",
                "https://outlook.office365.us",
            ),
            (
                "dod",
                "https://login.microsoftonline.us",
                "https://webmail.apps.mil",
            ),
            (
                "china",
                "https://login.partner.microsoftonline.cn",
                "https://partner.outlook.cn",
            ),
        ];
        for (cloud, (name, login, exo)) in Cloud::ALL.iter().zip(table) {
            assert_eq!(cloud.name(), name);
            assert_eq!(name.parse::<Cloud>().unwrap(), *cloud);
            let e = cloud.endpoints();
            assert_eq!(e.token_url("t"), format!("{login}/t/oauth2/v2.0/token"));
            assert_eq!(e.scope(), format!("{exo}/.default"));
            assert_eq!(
                e.invoke_url("t"),
                format!("{exo}/adminapi/beta/t/InvokeCommand")
            );
            assert!(!e.uses_http());
        }
        assert_eq!("21vianet".parse::<Cloud>().unwrap(), Cloud::China);
        assert_eq!(" GCC-High ".parse::<Cloud>().unwrap(), Cloud::GccHigh);
        assert!("gcc".parse::<Cloud>().is_err());
        assert!("usgov".parse::<Cloud>().is_err());
    }

    #[test]
    fn explicit_endpoints_are_https_unless_loopback_is_allowed() {
        let e = Endpoints::new("https://login.example/", "https://exo.example/base/").unwrap();
        assert_eq!(
            e.token_url("x"),
            "https://login.example/x/oauth2/v2.0/token"
        );
        assert_eq!(
            e.invoke_url("x"),
            "https://exo.example/base/adminapi/beta/x/InvokeCommand"
        );
        assert!(Endpoints::new("http://127.0.0.1:1", "https://exo.example").is_err());
        let ok =
            Endpoints::dangerous_allow_http_loopback("http://127.0.0.1:8080", "http://[::1]:9/")
                .unwrap();
        assert!(ok.uses_http());
        assert!(
            Endpoints::dangerous_allow_http_loopback("http://localhost:1", "http://127.9.9.9")
                .is_ok()
        );
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "http://127.0.0.1.example.com",
            "ftp://127.0.0.1",
            "https://a.example/?x=1",
            "https://u:p@a.example/",
            "not a url",
        ] {
            assert!(
                Endpoints::dangerous_allow_http_loopback(bad, "https://exo.example").is_err(),
                "{bad}"
            );
        }
    }
}
