//! The Exchange Online client: typed cmdlets over InvokeCommand, with token
//! handling, classified errors, retries and a bound on requests in flight.
//!
//! Protocol: docs/exchange-wire-protocol.md ("InvokeCommand", "Cmdlets", "Errors").

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::StreamExt as _;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

use super::auth::{new_uuid, Credential, TokenProvider};
use super::bytes::WriteForm;
use super::cloud::Endpoints;
use super::error::{ErrorClass, ExoError};
use super::http::{
    clock_skew_secs, header, read_body, retry_after, transport_error, MAX_RESPONSE_BYTES,
};
use super::recipient::{property, Recipient, RecipientKind, WireNotes, RECIPIENT_MEMBERS};
use super::retry::{Jitter, RetryPolicy};
use certferry_format::model::Attribute;

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

/// One successful InvokeCommand response.
struct Reply {
    value: Vec<Value>,
    next_link: Option<String>,
    warnings: Vec<String>,
    request_id: Option<String>,
    attempts: u32,
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

    /// Every mailbox (`Get-Mailbox -ResultSize Unlimited`, all pages).
    pub async fn get_mailboxes(&self) -> Result<Listing, ExoError> {
        self.get_recipients(RecipientKind::Mailbox).await
    }

    /// Every mail user (`Get-MailUser -ResultSize Unlimited`, all pages).
    pub async fn get_mail_users(&self) -> Result<Listing, ExoError> {
        self.get_recipients(RecipientKind::MailUser).await
    }

    /// Every mail contact (`Get-MailContact -ResultSize Unlimited`, all pages).
    pub async fn get_mail_contacts(&self) -> Result<Listing, ExoError> {
        self.get_recipients(RecipientKind::MailContact).await
    }

    /// Every recipient of the three kinds: mailboxes, then mail users, then contacts.
    pub async fn get_all_recipients(&self) -> Result<Listing, ExoError> {
        let mut all = Listing::default();
        for kind in RecipientKind::ALL {
            let l = self.get_recipients(kind).await?;
            all.recipients.extend(l.recipients);
            all.request_ids.extend(l.request_ids);
            all.warnings.extend(l.warnings);
            all.notes.merge(l.notes);
        }
        Ok(all)
    }

    /// Every recipient of `kind`, following `@odata.nextLink` (same body) to the last page.
    pub async fn get_recipients(&self, kind: RecipientKind) -> Result<Listing, ExoError> {
        self.list(kind, json!("Unlimited")).await
    }

    /// The first page of recipients of `kind` (at most `n`, `Get-* -ResultSize n`):
    /// a harmless read, for `doctor`.
    pub async fn sample_recipients(
        &self,
        kind: RecipientKind,
        n: u32,
    ) -> Result<Listing, ExoError> {
        self.list(kind, json!(n.max(1))).await
    }

    async fn list(&self, kind: RecipientKind, result_size: Value) -> Result<Listing, ExoError> {
        let cmdlet = kind.get_cmdlet();
        let body = cmdlet_body(cmdlet, params([("ResultSize", result_size)]));
        let mut url = self.inner.get_url.clone();
        let mut seen = HashSet::new();
        let mut listing = Listing::default();
        loop {
            let reply = self
                .invoke(&url, &body)
                .await
                .map_err(|e| e.context(cmdlet))?;
            let rid = reply.request_id.clone();
            for v in &reply.value {
                let r = Recipient::from_json_noting(v, kind, &mut listing.notes)
                    .map_err(|m| protocol(format!("{cmdlet}: {m}"), &rid))?;
                listing.recipients.push(r);
            }
            listing.request_ids.extend(rid.clone());
            listing.warnings.extend(reply.warnings);
            match reply.next_link {
                None => return Ok(listing),
                Some(link) => {
                    url = self
                        .checked_next_link(&link)
                        .map_err(|m| protocol(format!("{cmdlet}: {m}"), &rid))?;
                    if !seen.insert(url.to_string()) {
                        return Err(protocol(
                            format!("{cmdlet}: the service repeated a next link"),
                            &rid,
                        ));
                    }
                }
            }
        }
    }

    /// One recipient of `kind` by identity (object id, SMTP address, …), or
    /// `None` when the service says there is none.
    pub async fn get_recipient(
        &self,
        kind: RecipientKind,
        identity: &str,
    ) -> Result<Option<(Recipient, Option<String>)>, ExoError> {
        let cmdlet = kind.get_cmdlet();
        let body = cmdlet_body(
            cmdlet,
            params([
                ("Identity", json!(identity)),
                ("ResultSize", json!("Unlimited")),
            ]),
        );
        let reply = match self.invoke(&self.inner.get_url, &body).await {
            Ok(r) => r,
            Err(e) if e.class == ErrorClass::NotFound => return Ok(None),
            Err(e) => return Err(e.context(format_args!("{cmdlet} {identity}"))),
        };
        let rid = reply.request_id;
        match reply.value.as_slice() {
            [] => Ok(None),
            [one] => Recipient::from_json(one, kind)
                .map(|r| Some((r, rid.clone())))
                .map_err(|m| protocol(format!("{cmdlet} {identity}: {m}"), &rid)),
            many => Err(protocol(
                format!(
                    "{cmdlet} {identity}: {} recipients answer to it",
                    many.len()
                ),
                &rid,
            )),
        }
    }

    /// Writes a recipient's certificate attributes with `Set-Mailbox`,
    /// `Set-MailUser` or `Set-MailContact`, in the client's [`WriteForm`]. Each
    /// `(attribute, values)` of `changes` is that attribute's **complete** new
    /// value set (`&[]` clears it); an attribute not listed is left alone. At
    /// least one must be listed.
    ///
    /// The 15-value cap is the caller's (the plan's) to respect; the service
    /// refuses more with a `DataValidationException` ([`ErrorClass::Invalid`]).
    pub async fn set_certificates(
        &self,
        kind: RecipientKind,
        identity: &str,
        changes: &[(Attribute, &[Vec<u8>])],
    ) -> Result<WriteReceipt, ExoError> {
        self.set_certificates_as(self.inner.write_form, kind, identity, changes)
            .await
    }

    /// [`Self::set_certificates`] with the values written in `form`.
    ///
    /// Set-* replaces the attribute's whole value set, so repeating it is safe. But
    /// after an ambiguous failure (dropped connection, timeout, 5xx: the write may
    /// or may not have been applied) the recipient is read back first: when it
    /// already holds exactly these values the write is done, is not sent again,
    /// and the receipt says so ([`WriteReceipt::confirmed_by_read_back`]).
    /// Throttled (429) and 401 requests were refused before the cmdlet ran and
    /// are repeated directly.
    pub async fn set_certificates_as(
        &self,
        form: WriteForm,
        kind: RecipientKind,
        identity: &str,
        changes: &[(Attribute, &[Vec<u8>])],
    ) -> Result<WriteReceipt, ExoError> {
        let cmdlet = kind.set_cmdlet();
        if changes.is_empty() {
            return Err(ExoError::new(
                ErrorClass::Invalid,
                format!("{cmdlet} {identity}: nothing to write"),
            ));
        }
        let mut p = params([("Identity", json!(identity))]);
        for (attribute, values) in changes {
            p.insert(property(*attribute).to_owned(), form.encode_set(values));
        }
        let body = cmdlet_body(cmdlet, p);
        let ctx = |e: ExoError| e.context(format_args!("{cmdlet} {identity}"));
        let holds = |r: &Recipient| changes.iter().all(|(a, v)| r.values(*a) == *v);
        let mut attempt = 0u32;
        let mut ambiguous = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let (result, generation) = self.send_once(&self.inner.invoke_url, &body).await;
            let err = match result {
                // No request was sent: getting a token failed (after its own retries).
                Err(e) if generation.is_none() => return Err(ctx(e)),
                Ok(reply) => {
                    return Ok(WriteReceipt {
                        request_id: reply.request_id,
                        warnings: reply.warnings,
                        attempts: attempt + u32::from(reauthenticated),
                        ambiguous_failures: ambiguous,
                        confirmed_by_read_back: None,
                    })
                }
                Err(e) => e,
            };
            match err.class {
                ErrorClass::Unauthorized if !reauthenticated => {
                    reauthenticated = true;
                    self.reauthenticate(generation).await;
                    attempt -= 1;
                    continue;
                }
                ErrorClass::Unauthorized => return Err(ctx(refused_fresh_token(err))),
                ErrorClass::Throttled => {}
                ErrorClass::Transient => {
                    ambiguous += 1;
                    if let Some((r, request_id)) = self.get_recipient(kind, identity).await? {
                        if holds(&r) {
                            return Ok(WriteReceipt {
                                request_id,
                                warnings: Vec::new(),
                                attempts: attempt + u32::from(reauthenticated),
                                ambiguous_failures: ambiguous,
                                confirmed_by_read_back: Some(r),
                            });
                        }
                    }
                }
                _ => return Err(ctx(err)),
            }
            match self.next_delay(attempt, err.retry_after) {
                Some(d) => {
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(d).await;
                }
                None => return Err(ctx(gave_up(err, attempt))),
            }
        }
    }

    /// Creates a mail contact (`New-MailContact -Name -DisplayName
    /// -ExternalEmailAddress SMTP:address`). Its certificates are then written
    /// with [`Self::set_certificates`] (`New-MailContact` has no such parameters).
    ///
    /// Not idempotent: a second call creates nothing but fails. So after an
    /// ambiguous failure (dropped connection, timeout, 5xx: the contact may have
    /// been created) the contact is looked up by its address first, and the
    /// request is repeated only if it is not there. Throttled (429) and 401
    /// requests were refused before the cmdlet ran and are repeated directly.
    pub async fn new_mail_contact(
        &self,
        name: &str,
        display_name: &str,
        address: &str,
    ) -> Result<NewContact, ExoError> {
        let cmdlet = "New-MailContact";
        let address = strip_smtp_prefix(address);
        if address.is_empty() || !address.contains('@') || address.chars().any(char::is_whitespace)
        {
            return Err(ExoError::new(
                ErrorClass::Invalid,
                format!("{cmdlet}: {address:?} is not an SMTP address"),
            ));
        }
        let body = cmdlet_body(
            cmdlet,
            params([
                ("Name", json!(name)),
                ("DisplayName", json!(display_name)),
                ("ExternalEmailAddress", json!(format!("SMTP:{address}"))),
            ]),
        );
        let ctx = |e: ExoError| e.context(format_args!("{cmdlet} {address}"));
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let (result, generation) = self.send_once(&self.inner.invoke_url, &body).await;
            let err = match result {
                // No request was sent: getting a token failed (after its own retries).
                Err(e) if generation.is_none() => return Err(ctx(e)),
                Ok(reply) => {
                    let rid = reply.request_id;
                    let Some(first) = reply.value.first() else {
                        return Err(ctx(protocol(
                            "the service returned no contact".into(),
                            &rid,
                        )));
                    };
                    let recipient = Recipient::from_json(first, RecipientKind::MailContact)
                        .map_err(|m| ctx(protocol(m, &rid)))?;
                    return Ok(NewContact {
                        recipient,
                        request_id: rid,
                        found_after_ambiguous_failure: false,
                    });
                }
                Err(e) => e,
            };
            match err.class {
                ErrorClass::Unauthorized if !reauthenticated => {
                    reauthenticated = true;
                    self.reauthenticate(generation).await;
                    attempt -= 1;
                    continue;
                }
                ErrorClass::Unauthorized => return Err(ctx(refused_fresh_token(err))),
                ErrorClass::Throttled => {}
                ErrorClass::Transient => {
                    if let Some((recipient, request_id)) = self
                        .get_recipient(RecipientKind::MailContact, address)
                        .await?
                    {
                        return Ok(NewContact {
                            recipient,
                            request_id,
                            found_after_ambiguous_failure: true,
                        });
                    }
                }
                _ => return Err(ctx(err)),
            }
            match self.next_delay(attempt, err.retry_after) {
                Some(d) => {
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(d).await;
                }
                None => return Err(ctx(gave_up(err, attempt))),
            }
        }
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

    /// POSTs `body` to `url` until it succeeds, fails for good, or the retry
    /// policy gives up. Only for requests that are safe to repeat (reads, Set-*).
    async fn invoke(&self, url: &Url, body: &Value) -> Result<Reply, ExoError> {
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let (result, generation) = self.send_once(url, body).await;
            let err = match result {
                // No request was sent: getting a token failed (after its own retries).
                Err(e) if generation.is_none() => return Err(e),
                Ok(mut reply) => {
                    reply.attempts = attempt + u32::from(reauthenticated);
                    return Ok(reply);
                }
                Err(e) => e,
            };
            match err.class {
                // The token expired or was revoked: a new one, once per request.
                ErrorClass::Unauthorized if !reauthenticated => {
                    reauthenticated = true;
                    self.reauthenticate(generation).await;
                    attempt -= 1;
                }
                ErrorClass::Unauthorized => return Err(refused_fresh_token(err)),
                _ if err.is_retryable() => match self.next_delay(attempt, err.retry_after) {
                    Some(d) => {
                        self.inner.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(d).await;
                    }
                    None => return Err(gave_up(err, attempt)),
                },
                _ => return Err(err),
            }
        }
    }

    async fn reauthenticate(&self, generation: Option<u64>) {
        self.inner.reauthentications.fetch_add(1, Ordering::Relaxed);
        if let Some(g) = generation {
            self.inner.tokens.invalidate(g).await;
        }
    }

    fn next_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let mut jitter = self.inner.jitter.lock().unwrap_or_else(|p| p.into_inner());
        self.inner
            .retry
            .next_delay(attempt, retry_after, &mut jitter)
    }

    /// One HTTP attempt, holding a permit of the in-flight bound for its whole
    /// duration (the token request, if one is needed, included). Returns the
    /// token's generation so that a 401 invalidates exactly that token.
    async fn send_once(&self, url: &Url, body: &Value) -> (Result<Reply, ExoError>, Option<u64>) {
        let inner = &self.inner;
        let Ok(_permit) = inner.permits.acquire().await else {
            return (
                Err(ExoError::new(
                    ErrorClass::Protocol,
                    "the client was shut down",
                )),
                None,
            );
        };
        let bearer = match inner.tokens.bearer().await {
            Ok(b) => b,
            Err(e) => return (Err(e), None),
        };
        let generation = Some(bearer.generation);
        let body_bytes = match serde_json::to_vec(body) {
            Ok(b) => b,
            Err(e) => {
                return (
                    Err(ExoError::new(ErrorClass::Invalid, e.to_string())),
                    generation,
                )
            }
        };
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_in_flight_seen.fetch_max(now, Ordering::SeqCst);
        inner.invoke_requests.fetch_add(1, Ordering::Relaxed);
        let result = self.post(url, body_bytes, &bearer.value).await;
        inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        (result, generation)
    }

    async fn post(&self, url: &Url, body: Vec<u8>, token: &str) -> Result<Reply, ExoError> {
        let inner = &self.inner;
        let response = inner
            .http
            .post(url.clone())
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header("X-AnchorMailbox", &inner.anchor)
            .header("Prefer", &inner.prefer)
            .header("X-ResponseFormat", "json")
            .header(CONTENT_TYPE, "application/json")
            .header("client-request-id", new_uuid())
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.observe(status, &headers);
        let request_id = header(&headers, "request-id");
        let data = read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|mut err| {
                err.request_id = request_id.clone();
                err.status = Some(status);
                err
            })?;
        if !(200..300).contains(&status) {
            return Err(ExoError::from_invoke_response(
                status,
                header(&headers, "x-ExceptionType").as_deref(),
                request_id,
                retry_after(&headers),
                &data,
            ));
        }
        parse_reply(&data, request_id)
    }

    /// Notes a response's status, throttling headers and clock.
    fn observe(&self, status: u16, headers: &HeaderMap) {
        let mut o = self
            .inner
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *o.statuses.entry(status).or_default() += 1;
        for (name, value) in headers {
            let n = name.as_str();
            if n.starts_with("rate-limit") || n == "retry-after" {
                if let Ok(v) = value.to_str() {
                    o.throttling_headers.insert(n.to_owned(), v.to_owned());
                }
            }
        }
        if let Some(skew) = header(headers, "date").and_then(|d| clock_skew_secs(&d)) {
            if o.clock_skew_secs.is_none_or(|s| skew.abs() > s.abs()) {
                o.clock_skew_secs = Some(skew);
            }
        }
    }

    /// A next link as a URL on the Exchange endpoint's origin: the bearer token
    /// goes nowhere else.
    fn checked_next_link(&self, link: &str) -> Result<Url, String> {
        let base = &self.inner.invoke_url;
        let url = base
            .join(link)
            .map_err(|e| format!("@odata.nextLink {link:?} is not a URL: {e}"))?;
        if url.origin() != base.origin() {
            return Err(format!(
                "@odata.nextLink {url} leaves {} (refused: it would carry the token elsewhere)",
                base.origin().ascii_serialization()
            ));
        }
        Ok(url)
    }
}

fn parse_reply(data: &[u8], request_id: Option<String>) -> Result<Reply, ExoError> {
    let v: Value = serde_json::from_slice(data)
        .map_err(|e| protocol(format!("the response is not JSON: {e}"), &request_id))?;
    let Value::Object(mut obj) = v else {
        return Err(protocol(
            "the response is not a JSON object".into(),
            &request_id,
        ));
    };
    let value = match obj.remove("value") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(protocol("`value` is not an array".into(), &request_id)),
    };
    let next_link = match obj.remove("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(protocol(
                "`@odata.nextLink` is not a string".into(),
                &request_id,
            ))
        }
    };
    let warnings = match obj.remove("@adminapi.warnings") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|w| match w {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Reply {
        value,
        next_link,
        warnings,
        request_id,
        attempts: 1,
    })
}

fn cmdlet_body(cmdlet: &str, parameters: Map<String, Value>) -> Value {
    json!({"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}})
}

fn params<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn strip_smtp_prefix(address: &str) -> &str {
    match address.split_once(':') {
        Some((p, rest)) if p.eq_ignore_ascii_case("smtp") => rest,
        _ => address,
    }
    .trim()
}

fn protocol(message: String, request_id: &Option<String>) -> ExoError {
    let mut e = ExoError::new(ErrorClass::Protocol, message);
    e.request_id = request_id.clone();
    e
}

fn refused_fresh_token(err: ExoError) -> ExoError {
    err.context(
        "Exchange Online refused a freshly issued token (does the app have Exchange.ManageAsApp \
         with admin consent, and an Exchange role such as Exchange Recipient Administrator?)",
    )
}

fn gave_up(err: ExoError, attempts: u32) -> ExoError {
    err.context(format_args!("gave up after {attempts} attempts"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            include_bytes!("../../../fixtures/pki/certs/alice.pem"),
            Some(include_bytes!("../../../fixtures/pki/keys/alice.key")),
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
