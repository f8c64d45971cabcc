//! The Exchange Online client: typed cmdlets over InvokeCommand, with token
//! handling, classified errors, retries and a bound on requests in flight.
//!
//! Protocol: docs/exchange-wire-protocol.md ("InvokeCommand", "Cmdlets", "Errors").
//!
//! This file holds the configuration, the client and what it reports;
//! `cmdlets` the typed cmdlets; `transport` one request with its retries.

mod cmdlets;
mod smime;
mod transport;

pub use smime::IssuingCaCollection;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::StreamExt as _;
use reqwest::Url;
use tokio::sync::Semaphore;

use super::auth::{Credential, TokenProvider};
use super::bytes::WriteForm;
use super::cloud::Endpoints;
use super::error::{ErrorClass, ExoError};
use super::recipient::{Recipient, WireNotes, RECIPIENT_MEMBERS};
use super::retry::{Jitter, RetryPolicy};

/// The `X-AnchorMailbox` that app-only InvokeCommand requests carry, before `@{tenant}`.
pub const ANCHOR_MAILBOX: &str = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}";

/// Default bound on requests in flight.
///
/// Exchange Online limits concurrent requests per tenant and answers "Maximum number
/// of concurrent requests per tenant" (throttled) beyond it; Microsoft does not publish
/// the number for the REST transport. 8 keeps well clear of it while hiding latency.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// How to reach and call a tenant.
#[derive(Debug, Clone)]
pub struct ExoConfig {
    /// The tenant: its id (GUID) or an initial domain (`contoso.onmicrosoft.com`).
    pub tenant: String,
    /// The app registration's client (application) id.
    pub client_id: String,
    /// Where the token endpoint and Exchange Online are.
    pub endpoints: Endpoints,
    /// Retries of throttled and transient failures.
    pub retry: RetryPolicy,
    /// At most this many HTTP requests in flight at once (token requests included).
    pub max_in_flight: usize,
    /// Limit on one HTTP request, body included. The service's own limit is 15 minutes.
    pub request_timeout: Duration,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// `Prefer: odata.maxpagesize=N` (the protocol's value is 1000).
    pub page_size: u32,
    /// Seed of the backoff jitter; `None` seeds from the OS (tests fix it).
    pub jitter_seed: Option<u64>,
    /// Ask Get-* calls for [`RECIPIENT_MEMBERS`] only (`?$select=…`). On by default;
    /// off sends no query string at all (if a service refuses one of the names).
    pub select: bool,
    /// How certificate values are written (every form is read).
    pub write_form: WriteForm,
}

impl ExoConfig {
    /// A configuration with the defaults: [`RetryPolicy::default`],
    /// [`DEFAULT_MAX_IN_FLIGHT`], 16-minute requests, 30-second connects, pages of 1000.
    pub fn new(
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        endpoints: Endpoints,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            client_id: client_id.into(),
            endpoints,
            retry: RetryPolicy::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            request_timeout: Duration::from_secs(16 * 60),
            connect_timeout: Duration::from_secs(30),
            page_size: 1000,
            jitter_seed: None,
            select: true,
            write_form: WriteForm::default(),
        }
    }
}

/// Every recipient of one or more kinds, with the request id of every page read.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The recipients, in the order the service returned them.
    pub recipients: Vec<Recipient>,
    /// The `request-id` of every page (in order), for the audit log.
    pub request_ids: Vec<String>,
    /// `@adminapi.warnings` of every page.
    pub warnings: Vec<String>,
    /// What the recipients looked like on the wire.
    pub notes: WireNotes,
}

/// The outcome of a successful write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReceipt {
    /// The `request-id` of the request that succeeded.
    pub request_id: Option<String>,
    /// `@adminapi.warnings` of that response.
    pub warnings: Vec<String>,
    /// HTTP attempts it took (1 without retries; a re-authentication counts).
    pub attempts: u32,
    /// Attempts whose outcome was unknown (dropped connection, timeout, 5xx).
    pub ambiguous_failures: u32,
    /// The recipient as read back after an ambiguous failure, when it already
    /// held exactly the values written: the write is done ("confirmed by
    /// read-back") and was not sent again.
    pub confirmed_by_read_back: Option<Recipient>,
}

/// What the service's responses said about themselves, for `doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// `Rate-Limit-*` and `Retry-After` response headers, by lower-case name,
    /// with the last value seen.
    pub throttling_headers: BTreeMap<String, String>,
    /// The service's `Date` minus this machine's clock, in seconds, of the response
    /// that differed most (`None`: no response carried a `Date`).
    pub clock_skew_secs: Option<i64>,
    /// InvokeCommand responses by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
}

/// A contact made by [`ExoClient::new_mail_contact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// The contact as the service returned it.
    pub recipient: Recipient,
    /// The `request-id` of the request that returned it.
    pub request_id: Option<String>,
    /// `true` when an attempt failed ambiguously (dropped connection, 5xx) and the
    /// contact was then found by its address: that attempt had created it.
    pub found_after_ambiguous_failure: bool,
}

/// Counters, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExoStats {
    /// Requests sent to the token endpoint.
    pub token_requests: u64,
    /// HTTP requests sent to InvokeCommand (each attempt counts).
    pub invoke_requests: u64,
    /// Attempts repeated after a throttled or transient failure.
    pub retries: u64,
    /// Requests repeated with a new token after a 401.
    pub reauthentications: u64,
    /// Most InvokeCommand requests that were in flight at once.
    pub max_in_flight_seen: usize,
}

/// An Exchange Online client for one tenant. Cheap to clone; clones share the
/// token cache, the in-flight bound and the counters.
#[derive(Clone)]
pub struct ExoClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    invoke_url: Url,
    /// `invoke_url`, with `?$select=…` when configured: where Get-* calls go.
    get_url: Url,
    anchor: String,
    prefer: String,
    tokens: TokenProvider,
    retry: RetryPolicy,
    jitter: Arc<Mutex<Jitter>>,
    permits: Semaphore,
    invoke_requests: AtomicU64,
    retries: AtomicU64,
    reauthentications: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight_seen: AtomicUsize,
    write_form: WriteForm,
    observed: Mutex<Observed>,
}

impl std::fmt::Debug for ExoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExoClient")
            .field("invoke_url", &self.inner.invoke_url.as_str())
            .finish_non_exhaustive()
    }
}

impl ExoClient {
    /// A client for `config.tenant`, authenticating with `credential`.
    pub fn new(config: ExoConfig, credential: Credential) -> Result<Self, ExoError> {
        let invalid = |m: String| ExoError::new(ErrorClass::Invalid, m);
        if config.tenant.is_empty()
            || config.tenant.starts_with('.')
            || !config
                .tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(invalid(format!(
                "tenant {:?} is not a tenant id or domain name",
                config.tenant
            )));
        }
        if config.client_id.trim().is_empty() {
            return Err(invalid("the client id is empty".to_owned()));
        }
        if config.max_in_flight == 0 {
            return Err(invalid("max_in_flight must be at least 1".to_owned()));
        }
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(!config.endpoints.uses_http())
            // A redirect of a POST is not part of the protocol; never follow one
            // (and never carry the bearer token somewhere else).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.max_in_flight)
            .user_agent(concat!("certferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot set up HTTPS: {e}")))?;
        let invoke_url = Url::parse(&config.endpoints.invoke_url(&config.tenant))
            .map_err(|e| invalid(format!("InvokeCommand URL: {e}")))?;
        let mut get_url = invoke_url.clone();
        if config.select {
            get_url.set_query(Some(&format!("$select={}", RECIPIENT_MEMBERS.join(","))));
        }
        let jitter = Arc::new(Mutex::new(match config.jitter_seed {
            Some(seed) => Jitter::seeded(seed),
            None => Jitter::from_entropy(),
        }));
        let tokens = TokenProvider::new(
            http.clone(),
            config.endpoints.token_url(&config.tenant),
            config.client_id.clone(),
            config.endpoints.scope(),
            credential,
            config.retry,
            jitter.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                invoke_url,
                get_url,
                anchor: format!("{ANCHOR_MAILBOX}@{}", config.tenant),
                prefer: format!("odata.maxpagesize={}", config.page_size),
                tokens,
                retry: config.retry,
                jitter,
                permits: Semaphore::new(config.max_in_flight),
                invoke_requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                reauthentications: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                max_in_flight_seen: AtomicUsize::new(0),
                write_form: config.write_form,
                observed: Mutex::new(Observed::default()),
            }),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> ExoStats {
        let i = &self.inner;
        ExoStats {
            token_requests: i.tokens.requests(),
            invoke_requests: i.invoke_requests.load(Ordering::Relaxed),
            retries: i.retries.load(Ordering::Relaxed),
            reauthentications: i.reauthentications.load(Ordering::Relaxed),
            max_in_flight_seen: i.max_in_flight_seen.load(Ordering::Relaxed),
        }
    }

    /// How this client writes certificate values.
    pub fn write_form(&self) -> WriteForm {
        self.inner.write_form
    }

    /// What the responses so far said about themselves.
    pub fn observed(&self) -> Observed {
        self.inner
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Gets a token now (to check the credential before any work).
    pub async fn authenticate(&self) -> Result<(), ExoError> {
        self.inner.tokens.bearer().await.map(|_| ())
    }

    /// Runs `task` on every item with at most `max_in_flight` tasks running at
    /// once, and returns the results in the order of the items.
    ///
    /// The bound is enforced by `buffer_unordered(max_in_flight)`: it polls at most
    /// that many futures at a time and starts the next only when one finishes.
    /// Independently, every HTTP request of an [`ExoClient`] takes a permit from
    /// the client's semaphore ([`ExoConfig::max_in_flight`]) for its duration
    /// (released during backoff sleeps), so requests in flight never exceed that
    /// bound whatever the callers do.
    pub async fn run_bounded<I, T, R, F, Fut>(items: I, max_in_flight: usize, task: F) -> Vec<R>
    where
        I: IntoIterator<Item = T>,
        F: Fn(T) -> Fut,
        Fut: Future<Output = R>,
    {
        let task = &task;
        let mut results: Vec<(usize, R)> = futures::stream::iter(items.into_iter().enumerate())
            .map(|(i, item)| async move { (i, task(item).await) })
            .buffer_unordered(max_in_flight.max(1))
            .collect()
            .await;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::cmdlets::{cmdlet_body, params, strip_smtp_prefix};
    use super::transport::parse_reply;
    use super::*;
    use crate::exchange::http::retry_after;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    #[test]
    fn reply_parsing() {
        let r = parse_reply(
            br#"{"@odata.context":"x","value":[{"a":1}],"@odata.nextLink":"https://h/n","@adminapi.warnings":["w",{"k":1}]}"#,
            Some("rid".into()),
        )
        .unwrap();
        assert_eq!(r.value.len(), 1);
        assert_eq!(r.next_link.as_deref(), Some("https://h/n"));
        assert_eq!(r.warnings, ["w", r#"{"k":1}"#]);
        assert!(parse_reply(br#"{"value":[]}"#, None)
            .unwrap()
            .value
            .is_empty());
        for bad in [
            &b"<html>"[..],
            b"[]",
            br#"{"value":{}}"#,
            br#"{"value":[],"@odata.nextLink":1}"#,
        ] {
            let e = parse_reply(bad, Some("r".into())).err().unwrap();
            assert_eq!(e.class, ErrorClass::Protocol);
            assert_eq!(e.request_id.as_deref(), Some("r"));
        }
    }

    #[test]
    fn retry_after_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("Retry-After", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("Retry-After", "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            "Retry-After",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
        h.insert("Retry-After", "-1".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn bodies_and_prefixes() {
        let b = cmdlet_body("Get-Mailbox", params([("ResultSize", json!("Unlimited"))]));
        assert_eq!(
            b.to_string(),
            r#"{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"ResultSize":"Unlimited"}}}"#
        );
        assert_eq!(strip_smtp_prefix("SMTP:a@b"), "a@b");
        assert_eq!(strip_smtp_prefix("smtp:a@b"), "a@b");
        assert_eq!(strip_smtp_prefix("a@b"), "a@b");
    }

    fn client_for(tenant: &str) -> Result<ExoClient, ExoError> {
        let cred = Credential::from_pem(
            include_bytes!("../../../../fixtures/pki/certs/alice.pem"),
            Some(include_bytes!("../../../../fixtures/pki/keys/alice.key")),
            None,
        )
        .unwrap();
        let endpoints = Endpoints::new("https://login.example", "https://exo.example/").unwrap();
        ExoClient::new(ExoConfig::new(tenant, "client", endpoints), cred)
    }

    #[test]
    fn next_links_stay_on_the_exchange_origin() {
        let c = client_for("contoso.onmicrosoft.com").unwrap();
        let ok = c
            .checked_next_link("https://exo.example/adminapi/beta/t/InvokeCommand?$skiptoken=1")
            .unwrap();
        assert_eq!(ok.query(), Some("$skiptoken=1"));
        assert!(c
            .checked_next_link("/adminapi/beta/t/InvokeCommand?$skiptoken=2")
            .is_ok());
        for bad in [
            "https://evil.example/adminapi/beta/t/InvokeCommand",
            "http://exo.example/adminapi/beta/t/InvokeCommand",
            "https://exo.example:8443/adminapi/beta/t/InvokeCommand",
            "https://exo.example.evil.example/",
        ] {
            let e = c.checked_next_link(bad).unwrap_err();
            assert!(e.contains("refused"), "{bad}: {e}");
        }
    }

    #[test]
    fn get_calls_select_the_recipient_members() {
        let c = client_for("t").unwrap();
        assert_eq!(
            c.inner.get_url.as_str(),
            "https://exo.example/adminapi/beta/t/InvokeCommand?$select=ExternalDirectoryObjectId,\
             Identity,DisplayName,PrimarySmtpAddress,EmailAddresses,UserPrincipalName,\
             RecipientTypeDetails,IsDirSynced,IsExchangeCloudManaged,ImmutableId,\
             UserCertificate,UserSMimeCertificate"
        );
        assert_eq!(c.inner.invoke_url.query(), None);
    }

    #[test]
    fn tenant_names_are_checked() {
        assert!(client_for("6f1c2b7e-0c55-4d7a-9a3e-2b8f4c1d7e90").is_ok());
        for bad in ["", "a/b", "a?b", "contoso onmicrosoft", "..%2f", ".."] {
            let e = client_for(bad).unwrap_err();
            assert_eq!(e.class, ErrorClass::Invalid, "{bad}");
        }
    }

    #[tokio::test]
    async fn run_bounded_keeps_order_and_bound() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = ExoClient::run_bounded(0..50u64, 4, |i| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50 - i)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }
}
