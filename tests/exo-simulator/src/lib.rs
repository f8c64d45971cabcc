//! Exchange Online simulator: a real HTTP server on 127.0.0.1 serving the Microsoft identity
//! platform token endpoint (`/{tenant}/oauth2/v2.0/token`) and the Exchange Online
//! `InvokeCommand` REST endpoint (`/adminapi/beta/{tenant}/InvokeCommand`) exactly as
//! `docs/exchange-wire-protocol.md` describes them, with fault injection and readable state
//! for tests. Where the document marks a detail as assumed, a [`Dialect`] chosen per test
//! decides how the simulator answers, so it can disagree with the client.
//!
//! ```no_run
//! use exo_simulator::{FaultRule, SimConfig, Simulator, Tenant};
//! let tenant = Tenant::load(exo_simulator::tenant::fixture_dir().join("contoso.json")).unwrap();
//! let sim = Simulator::start(tenant, SimConfig::default()).unwrap();
//! sim.add_fault(FaultRule::throttle(2).on_cmdlet("Set-Mailbox").times(3));
//! // point the client at sim.base_url() (both login and exo base URL)…
//! assert_eq!(sim.write_counts().values().sum::<u64>(), 0);
//! ```
//!
//! Admin API (same port, under `/_sim/`, no authentication): see [`server`] and the README.

pub mod dialect;
pub mod faults;
pub mod jwt;
pub mod server;
mod sst;
pub mod tenant;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

pub use dialect::{Dialect, EmptyOut, IssuingCaOut, OtherWriteForm, ValuesOut, WriteForm};
pub use faults::{Endpoint, FaultAction, FaultRule};
pub use tenant::{App, Recipient, RecipientKind, Role, Tenant};

/// Entra's (and certferry's) cap on values per certificate attribute.
pub const MAX_VALUES: usize = 15;
/// `X-AnchorMailbox` is this followed by the tenant id.
pub const ANCHOR_MAILBOX_PREFIX: &str = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@";
/// Default access-token lifetime (`expires_in`), seconds.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3599;
/// Largest page the service returns (`Prefer: odata.maxpagesize` is clamped to it; also the
/// page size when no `Prefer` is sent).
pub const MAX_PAGE_SIZE: usize = 1000;
/// Results returned by `Get-*` without `ResultSize` (with a warning when there are more).
pub const DEFAULT_RESULT_SIZE: usize = 1000;

/// How the simulator runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Port on 127.0.0.1; 0 = a free port.
    pub port: u16,
    /// Lifetime of issued access tokens, seconds (changeable at runtime).
    pub token_lifetime_secs: u64,
    /// Latency added to every token and InvokeCommand request, ms (changeable at runtime).
    pub latency_ms: u64,
    /// Concurrent InvokeCommand requests the tenant allows; more get 429 "Maximum number
    /// of concurrent requests per tenant" (None = no limit).
    pub max_concurrent_requests: Option<usize>,
    /// Largest page size (`Prefer: odata.maxpagesize` is clamped to it).
    pub max_page_size: usize,
    /// How the open wire details are answered (changeable at runtime).
    pub dialect: Dialect,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            port: 0,
            token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
            latency_ms: 0,
            max_concurrent_requests: None,
            max_page_size: MAX_PAGE_SIZE,
            dialect: Dialect::default(),
        }
    }
}

/// One request as the simulator saw it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LogEntry {
    /// 1, 2, … in arrival order.
    pub seq: u64,
    /// `"token"`, `"InvokeCommand"` or `"other"`.
    pub endpoint: String,
    /// The cmdlet (InvokeCommand), or the client id (token).
    pub cmdlet: Option<String>,
    /// The `Identity` parameter (New-MailContact: `ExternalEmailAddress`).
    pub identity: Option<String>,
    /// Parameter names, certificate attributes with their value count
    /// (`Identity, UserCertificate[2]`); `$skiptoken` pages add `page@OFFSET`.
    pub parameters: String,
    /// HTTP status; `None` when the connection was dropped without a response.
    pub status: Option<u16>,
    /// The `request-id` response header (also for dropped requests, though never sent).
    pub request_id: String,
    /// The `client-request-id` request header.
    pub client_request_id: Option<String>,
    /// `x-ExceptionType` (or the token endpoint's `error`) of a failure.
    pub error: Option<String>,
    /// The fault rule that fired, as JSON.
    pub fault: Option<String>,
    /// ExternalDirectoryObjectId of the recipient written or created.
    pub target: Option<String>,
    /// Whether a write (Set-* or New-MailContact) was applied to the tenant.
    pub applied: bool,
}

pub(crate) struct TokenInfo {
    pub(crate) client_id: String,
    pub(crate) resource: String,
    pub(crate) expires_at: SystemTime,
}

pub(crate) struct Store {
    pub(crate) tenant: Tenant,
    pub(crate) by_id: HashMap<String, usize>,
    pub(crate) by_address: HashMap<String, Vec<usize>>,
    pub(crate) tokens: HashMap<String, TokenInfo>,
    pub(crate) used_jtis: HashSet<(String, String)>,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) writes: BTreeMap<String, u64>,
    pub(crate) latency_ms: u64,
    pub(crate) token_lifetime_secs: u64,
    pub(crate) dialect: Dialect,
    pub(crate) clock_offset_secs: i64,
    /// The tenant's S/MIME "virtual certificate collection": the SST last
    /// uploaded with `Set-SmimeConfig -SMIMECertificateIssuingCA`, as bound.
    pub(crate) smime_issuing_ca: Option<Vec<u8>>,
}

impl Store {
    pub(crate) fn reindex(&mut self) {
        self.by_id.clear();
        self.by_address.clear();
        for i in 0..self.tenant.recipients.len() {
            self.index(i);
        }
    }

    pub(crate) fn index(&mut self, i: usize) {
        let r = &self.tenant.recipients[i];
        self.by_id
            .insert(r.external_directory_object_id.to_ascii_lowercase(), i);
        // SMTP entries by their bare address; other entries (SIP:, X500:, …) whole.
        let keys: Vec<String> = r
            .email_addresses
            .iter()
            .map(|e| match e.split_once(':') {
                Some((p, a)) if p.eq_ignore_ascii_case("smtp") => a.to_lowercase(),
                _ => e.to_lowercase(),
            })
            .collect();
        for k in keys {
            let v = self.by_address.entry(k).or_default();
            if !v.contains(&i) {
                v.push(i);
            }
        }
    }

    /// Recipients an `Identity` value names: ExternalDirectoryObjectId, PrimarySmtpAddress
    /// or any entry of EmailAddresses (an SMTP address with or without `smtp:`, other
    /// entries with their prefix, e.g. `SIP:a@x`), case-insensitive.
    pub(crate) fn lookup(&self, identity: &str) -> Vec<usize> {
        if let Some(&i) = self.by_id.get(&identity.to_ascii_lowercase()) {
            return vec![i];
        }
        let addr = identity
            .split_once(':')
            .filter(|(p, _)| p.eq_ignore_ascii_case("smtp"))
            .map_or(identity, |(_, a)| a);
        self.by_address
            .get(&addr.to_lowercase())
            .cloned()
            .unwrap_or_default()
    }
}

pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    pub(crate) config: SimConfig,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        // A panicking handler must not take the simulator down with it.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds 127.0.0.1:`config.port` and serves `tenant` on a thread of its own (with its
    /// own tokio runtime), so blocking tests can use it. Stopped when the handle is dropped.
    pub fn start(tenant: Tenant, config: SimConfig) -> std::io::Result<SimHandle> {
        tenant
            .validate()
            .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut store = Store {
            tenant,
            by_id: HashMap::new(),
            by_address: HashMap::new(),
            tokens: HashMap::new(),
            used_jtis: HashSet::new(),
            faults: Vec::new(),
            log: Vec::new(),
            writes: BTreeMap::new(),
            latency_ms: config.latency_ms,
            token_lifetime_secs: config.token_lifetime_secs,
            dialect: config.dialect.clone(),
            clock_offset_secs: 0,
            smime_issuing_ca: None,
        };
        store.reindex();
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            config,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("exo-simulator")
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared2 = shared.clone();
        let thread = std::thread::Builder::new()
            .name("exo-simulator".into())
            .spawn(move || {
                runtime.block_on(server::serve(listener, shared2, stop_rx));
                runtime.shutdown_timeout(Duration::from_millis(200));
            })?;
        Ok(SimHandle {
            addr,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A running simulator. Dropping it stops the server (open connections are closed).
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`: both the login and the Exchange base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The token URL (`{base}/{tenant}/oauth2/v2.0/token`), the assertion's `aud`.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.base_url(), self.tenant_id())
    }

    /// The InvokeCommand URL.
    pub fn invoke_url(&self) -> String {
        format!(
            "{}/adminapi/beta/{}/InvokeCommand",
            self.base_url(),
            self.tenant_id()
        )
    }

    /// The token request's `scope`: `{base}/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.base_url())
    }

    /// The `X-AnchorMailbox` header value.
    pub fn anchor_mailbox(&self) -> String {
        format!("{ANCHOR_MAILBOX_PREFIX}{}", self.tenant_id())
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> String {
        self.shared.lock().tenant.tenant_id.clone()
    }

    /// The client id of the first registered app (the importer's).
    pub fn client_id(&self) -> String {
        self.shared
            .lock()
            .tenant
            .apps
            .first()
            .map(|a| a.client_id.clone())
            .unwrap_or_default()
    }

    /// A copy of the tenant as it is now.
    pub fn state(&self) -> Tenant {
        self.shared.lock().tenant.clone()
    }

    /// The tenant as `GET /_sim/state` returns it.
    pub fn state_json(&self) -> Value {
        self.shared.lock().tenant.to_json()
    }

    /// The recipient with this ExternalDirectoryObjectId or SMTP address (first if several).
    pub fn recipient(&self, id_or_address: &str) -> Option<Recipient> {
        let store = self.shared.lock();
        let found = store.lookup(id_or_address);
        found.first().map(|&i| store.tenant.recipients[i].clone())
    }

    /// Changes the tenant (e.g. someone else edits a recipient between plan and apply).
    /// Panics if the result breaks the tenant's invariants ([`Tenant::validate`]).
    pub fn modify_tenant<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        let mut store = self.shared.lock();
        let r = f(&mut store.tenant);
        if let Err(e) = store.tenant.validate() {
            panic!("modify_tenant left an invalid tenant: {e}");
        }
        store.reindex();
        r
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.lock().log.clone()
    }

    /// Successful Set-* calls per ExternalDirectoryObjectId (New-MailContact not
    /// counted); Set-SmimeConfig counts under `SmimeConfig`.
    pub fn write_counts(&self) -> BTreeMap<String, u64> {
        self.shared.lock().writes.clone()
    }

    /// Successful Set-* calls on one recipient (by id or SMTP address).
    pub fn writes_to(&self, id_or_address: &str) -> u64 {
        let Some(r) = self.recipient(id_or_address) else {
            return 0;
        };
        self.shared
            .lock()
            .writes
            .get(&r.external_directory_object_id)
            .copied()
            .unwrap_or(0)
    }

    /// The most InvokeCommand requests in flight at once since start (or the last reset).
    pub fn max_concurrency(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// InvokeCommand requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Clears the log, the write counts and the concurrency maximum.
    pub fn reset_stats(&self) {
        let mut store = self.shared.lock();
        store.log.clear();
        store.writes.clear();
        self.shared.max_in_flight.store(
            self.shared.in_flight.load(Ordering::SeqCst),
            Ordering::SeqCst,
        );
    }

    /// Replaces the fault queue.
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        self.shared.lock().faults = rules;
    }

    /// Appends a rule to the fault queue.
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.lock().faults.push(rule);
    }

    /// Empties the fault queue.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The rules still queued (with their remaining counts).
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.lock().faults.clone()
    }

    /// Sets the latency added to every token and InvokeCommand request.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency_ms = latency.as_millis() as u64;
    }

    /// Changes how the open wire details are answered from now on.
    pub fn set_dialect(&self, dialect: Dialect) {
        self.shared.lock().dialect = dialect;
    }

    /// The S/MIME issuing-CA collection (SST bytes) as last uploaded, if any.
    pub fn smime_issuing_ca(&self) -> Option<Vec<u8>> {
        self.shared.lock().smime_issuing_ca.clone()
    }

    /// Seeds the S/MIME issuing-CA collection, as an earlier upload would have.
    pub fn set_smime_issuing_ca(&self, sst: Option<Vec<u8>>) {
        self.shared.lock().smime_issuing_ca = sst;
    }

    /// How the open wire details are answered now.
    pub fn dialect(&self) -> Dialect {
        self.shared.lock().dialect.clone()
    }

    /// Puts the `Date` header of every response this far from the real clock (the
    /// client's clock then looks that far off the service's).
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.lock().clock_offset_secs = secs;
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.shared.lock().token_lifetime_secs = secs;
    }

    /// Expires every token issued so far (the next InvokeCommand with one gets 401).
    pub fn expire_tokens(&self) {
        server::expire_tokens(&mut self.shared.lock());
    }

    /// Stops the server now (also done on drop).
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
