//! The LDAP session: connect, StartTLS, bind, the paged search, and the
//! [`LdapSource`] that streams its entries.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Maps a connection-phase error (connect, TLS, StartTLS).
/// Opens the TCP connection for ldap3, with Nagle's algorithm off. LDAP
/// sends small requests and waits for their answers; with Nagle on, the bind
/// request that follows the TLS handshake waited for the server's delayed
/// acknowledgement of the handshake's last message: 40 ms per export.
pub(super) async fn connect_tcp(
    server: &ServerUrl,
    timeout: Duration,
) -> Result<std::net::TcpStream, LdapError> {
    let address = format!("{}:{}", server.host, server.port);
    let stream =
        ldap3::tokio::time::timeout(timeout, ldap3::tokio::net::TcpStream::connect(address))
            .await??;
    stream.set_nodelay(true)?;
    Ok(stream.into_std()?)
}

pub(super) type Stream = SearchStream<'static, String, Vec<String>>;

/// Reads users' certificates from an LDAP server. See [`LdapOptions`].
pub struct LdapSource {
    rt: ldap3::tokio::runtime::Runtime,
    ldap: Ldap,
    stream: Option<Stream>,
    server: ServerUrl,
    starttls: bool,
    base: String,
    filter: String,
    op_timeout: Duration,
    entries: u64,
    references: Vec<String>,
    failed: Option<SourceError>,
    /// The connection was dropped because the server sent a message that
    /// could not be decoded.
    malformed: Arc<AtomicBool>,
}

/// The text of the I/O error ldap3's message decoder returns for bytes that
/// are not a well-formed LDAP message (`protocol.rs`, `decode_inner`).
pub(super) const LDAP3_DECODING_ERROR: &str = "decoding error";

impl fmt::Debug for LdapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapSource")
            .field("description", &self.description())
            .finish_non_exhaustive()
    }
}

pub(super) fn clone_error(e: &SourceError) -> SourceError {
    match e {
        SourceError::Connect(s) => SourceError::Connect(s.clone()),
        SourceError::Tls(s) => SourceError::Tls(s.clone()),
        SourceError::Bind(s) => SourceError::Bind(s.clone()),
        SourceError::Search(s) => SourceError::Search(s.clone()),
        SourceError::Ldif(s) => SourceError::Ldif(s.clone()),
        SourceError::Io(s) => SourceError::Io(s.clone()),
    }
}

impl LdapSource {
    /// Connects, binds, finds the base DN and starts the paged search.
    pub fn connect(opts: &LdapOptions) -> Result<Self, SourceError> {
        ldap_panic::install_hook();
        // A panic inside ldap3 while connecting (a malformed StartTLS
        // response) has no source to report it yet; later ones are reported
        // by the source itself.
        let malformed = |panic: String| {
            SourceError::Connect(format!(
                "malformed LDAP message from {} while connecting (ldap3: {panic}): the export stopped",
                opts.url
            ))
        };
        match ldap_panic::catching(|| Self::connect_inner(opts)) {
            Ok(Ok(source)) => Ok(source),
            // ldap3's connection task panicked (tokio caught it) and the
            // connection reads as lost.
            Ok(Err(e)) => Err(ldap_panic::take_message().map_or(e, malformed)),
            Err(panic) => Err(malformed(panic)),
        }
    }

    fn connect_inner(opts: &LdapOptions) -> Result<Self, SourceError> {
        let server = ServerUrl::parse(&opts.url)?;
        if opts.starttls && server.tls {
            return Err(SourceError::Connect(format!(
                "StartTLS (-Z) is for ldap:// URLs; {server} already uses TLS"
            )));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&opts.page_size) {
            return Err(SourceError::Search(format!(
                "page size {} is out of range: use 1 to {MAX_PAGE_SIZE}",
                opts.page_size
            )));
        }
        let filter = build_filter(&opts.scope)?;
        if ldap3::parse_filter(&filter).is_err() {
            return Err(SourceError::Search(format!(
                "the LDAP filter is not valid: {filter}"
            )));
        }

        let mut settings = LdapConnSettings::new().set_conn_timeout(opts.connect_timeout);
        let mut trust = None;
        if server.tls || opts.starttls {
            let (store, source) =
                root_store(opts.ca_file.as_deref(), std::env::var_os("LDAPTLS_CACERT"))?;
            settings = settings
                .set_config(tls_config(store)?)
                .set_starttls(opts.starttls);
            trust = Some(source);
        }

        let rt = ldap3::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Io(format!("cannot start the I/O runtime: {e}")))?;
        // ldap3 wants a URL; give it the normalised one (host, port, nothing else).
        let url = server.to_string();
        let (conn, ldap) = rt
            .block_on(async {
                let started = std::time::Instant::now();
                let tcp = connect_tcp(&server, opts.connect_timeout).await?;
                // The TLS handshake (and StartTLS) get what is left of the timeout.
                let left = opts
                    .connect_timeout
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(1));
                let settings = settings
                    .set_conn_timeout(left)
                    .set_std_stream(ldap3::StdStream::Tcp(tcp));
                LdapConnAsync::with_settings(settings, &url).await
            })
            .map_err(|e| {
                connect_error(
                    e,
                    &server,
                    opts.starttls,
                    opts.connect_timeout,
                    trust.as_ref(),
                )
            })?;
        let malformed = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&malformed);
        rt.spawn(async move {
            // Errors surface in the operations waiting on the connection,
            // as a closed connection; a message that could not be decoded is
            // remembered so that the error can say so.
            if let Err(LdapError::Io { source }) = conn.drive().await {
                if source.to_string() == LDAP3_DECODING_ERROR {
                    seen.store(true, Ordering::Relaxed);
                }
            }
        });

        let mut source = Self {
            rt,
            ldap,
            stream: None,
            server,
            starttls: opts.starttls,
            base: String::new(),
            filter,
            op_timeout: opts.operation_timeout,
            entries: 0,
            references: Vec::new(),
            failed: None,
            malformed,
        };
        let setup = |source: &mut Self| -> Result<(), SourceError> {
            source.bind(&opts.bind)?;
            source.base = match &opts.base {
                Some(b) => b.clone(),
                None => source.default_base()?,
            };
            source.start_search(opts.page_size)
        };
        match ldap_panic::catching(|| setup(&mut source)) {
            Ok(Ok(())) => Ok(source),
            // marked failed: no polite unbind on a connection that may hang
            Ok(Err(e)) => Err(source.fail(e)),
            Err(panic) => {
                let e = source.malformed(&format!("ldap3: {panic}"));
                Err(source.fail(e))
            }
        }
    }

    /// The search filter in use.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The search base in use.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// How many entries have been returned so far.
    pub fn entries_read(&self) -> u64 {
        self.entries
    }

    /// The search references (referral URLs, e.g. to the Configuration or
    /// DomainDnsZones partitions of AD) that the search skipped; known once
    /// [`DirectorySource::next_entry`] has returned `None`.
    pub fn skipped_references(&self) -> &[String] {
        &self.references
    }

    fn bind(&mut self, bind: &Bind) -> Result<(), SourceError> {
        let who = bind.who();
        let tls = self.server.tls || self.starttls;
        let (server, timeout) = (self.server.clone(), self.op_timeout);
        let ldap = &mut self.ldap;
        let result = match bind {
            Bind::Anonymous => return Ok(()),
            Bind::Simple { name, password } => {
                if password.expose().is_empty() {
                    return Err(SourceError::Bind(format!(
                        "empty password for {name}: refusing the bind (an LDAP simple bind with an empty password is an unauthenticated, anonymous bind)"
                    )));
                }
                self.rt.block_on(async {
                    ldap.with_timeout(timeout)
                        .simple_bind(name, password.expose())
                        .await
                })
            }
            #[cfg(feature = "gssapi")]
            Bind::Gssapi => {
                let host = server
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                self.rt
                    .block_on(async { ldap.with_timeout(timeout).sasl_gssapi_bind(&host).await })
            }
        };
        let result = result.map_err(|e| match e {
            LdapError::EndOfStream | LdapError::ResultRecv { .. } if !tls => SourceError::Connect(format!(
                "bind as {who} on {server}: the server closed the connection (if this is an LDAPS port, use ldaps://)"
            )),
            LdapError::Timeout { .. } | LdapError::EndOfStream | LdapError::Io { .. } | LdapError::ResultRecv { .. } => {
                op_error(e, &server, &format!("bind as {who}"), timeout)
            }
            other => SourceError::Bind(format!("bind as {who} to {server} failed: {other}")),
        })?;
        if result.rc == 0 {
            Ok(())
        } else {
            Err(bind_error(&result, &who, &server, tls))
        }
    }

    /// Runs a base-scope search and returns the decoded attributes of the entry.
    fn read_base(
        &mut self,
        dn: &str,
        attrs: Vec<String>,
        what: &str,
    ) -> Result<Vec<RawAttribute>, SourceError> {
        let (server, timeout) = (self.server.clone(), self.op_timeout);
        let ldap = &mut self.ldap;
        let res = self
            .rt
            .block_on(async {
                ldap.with_timeout(timeout)
                    .search(dn, ldap3::Scope::Base, "(objectClass=*)", attrs)
                    .await
            })
            .map_err(|e| op_error(e, &server, what, timeout))?;
        let (entries, result) = (res.0, res.1);
        if result.rc != 0 {
            return Err(SourceError::Search(format!(
                "{what} on {server} failed: {}",
                result_text(&result)
            )));
        }
        let mut out = Vec::new();
        for e in entries {
            let (_dn, attrs) = decode_entry(e.0).map_err(|why| {
                SourceError::Search(format!("{what} on {server}: malformed entry: {why}"))
            })?;
            out.extend(attrs);
        }
        Ok(out)
    }

    fn default_base(&mut self) -> Result<String, SourceError> {
        let attrs = self.read_base(
            "",
            vec![
                "defaultNamingContext".to_owned(),
                "namingContexts".to_owned(),
            ],
            "reading the RootDSE",
        )?;
        let first = |name: &str| {
            attrs
                .iter()
                .find(|(d, _)| RawEntry::attribute_key(d) == name)
                .and_then(|(_, v)| v.iter().find(|v| !v.is_empty()))
                .and_then(|v| String::from_utf8(v.clone()).ok())
        };
        first("defaultnamingcontext").or_else(|| first("namingcontexts")).ok_or_else(|| {
            SourceError::Search(format!(
                "{} publishes neither defaultNamingContext nor namingContexts in its RootDSE: give the base DN",
                self.server
            ))
        })
    }

    /// The configuration naming context: the RootDSE's
    /// `configurationNamingContext` (AD, Samba), else `CN=Configuration,`
    /// under the search base (an AD-like tree on another server).
    fn configuration_nc(&mut self) -> Result<String, SourceError> {
        let attrs = self.read_base(
            "",
            vec!["configurationNamingContext".to_owned()],
            "reading the RootDSE",
        )?;
        Ok(attrs
            .iter()
            .find(|(d, _)| RawEntry::attribute_key(d) == "configurationnamingcontext")
            .and_then(|(_, v)| v.iter().find(|v| !v.is_empty()))
            .and_then(|v| String::from_utf8(v.clone()).ok())
            .unwrap_or_else(|| format!("CN=Configuration,{}", self.base)))
    }

    /// The CA objects under the public key services container (SPEC.md §6.7):
    /// one subtree search, few objects. A directory without the container
    /// (no AD CS ever published there) has none.
    fn read_ca_material(&mut self) -> Result<Vec<RawEntry>, SourceError> {
        let container = crate::ca_material::public_key_services(&self.configuration_nc()?);
        let (server, timeout) = (self.server.clone(), self.op_timeout);
        let what = format!("reading the CA material under {container}");
        let ldap = &mut self.ldap;
        let res = self
            .rt
            .block_on(async {
                ldap.with_timeout(timeout)
                    .search(
                        &container,
                        ldap3::Scope::Subtree,
                        crate::ca_material::FILTER,
                        crate::ca_material::requested_attributes(),
                    )
                    .await
            })
            .map_err(|e| op_error(e, &server, &what, timeout))?;
        let (found, result) = (res.0, res.1);
        match result.rc {
            0 => {}
            // noSuchObject: no public key services container.
            32 => return Ok(Vec::new()),
            _ => {
                return Err(SourceError::Search(format!(
                    "{what} on {server} failed: {}",
                    result_text(&result)
                )))
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for e in found {
            let (dn, attrs) = decode_entry(e.0).map_err(|why| {
                SourceError::Search(format!("{what} on {server}: malformed entry: {why}"))
            })?;
            out.push(self.raw_entry(dn, attrs)?);
        }
        Ok(out)
    }

    fn start_search(&mut self, page_size: u32) -> Result<(), SourceError> {
        let adapters: Vec<Box<dyn Adapter<'static, String, Vec<String>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(i32::try_from(page_size).unwrap_or(500))),
        ];
        let attrs = requested_attributes();
        let (server, timeout) = (self.server.clone(), self.op_timeout);
        let (base, filter) = (self.base.clone(), self.filter.clone());
        let ldap = &mut self.ldap;
        let stream = self
            .rt
            .block_on(async {
                ldap.with_timeout(timeout)
                    .streaming_search_with(adapters, &base, ldap3::Scope::Subtree, &filter, attrs)
                    .await
            })
            .map_err(|e| op_error(e, &server, "starting the search", timeout))?;
        self.stream = Some(stream);
        Ok(())
    }

    /// The error for a malformed message from the server; `detail` says what.
    fn malformed(&self, detail: &str) -> SourceError {
        SourceError::Connect(format!(
            "malformed LDAP message from {} after {} entries ({detail}): the export stopped",
            self.server, self.entries
        ))
    }

    fn fail(&mut self, e: SourceError) -> SourceError {
        // A connection dropped on a malformed message reads as closed by the
        // server; say why.
        let e = match e {
            SourceError::Connect(_) if self.malformed.load(Ordering::Relaxed) => {
                self.malformed("it could not be decoded")
            }
            SourceError::Connect(other) => match ldap_panic::take_message() {
                Some(panic) => self.malformed(&format!("ldap3: {panic}")),
                None => SourceError::Connect(other),
            },
            other => other,
        };
        self.stream = None;
        self.failed = Some(clone_error(&e));
        e
    }

    fn next_inner(&mut self) -> Result<Option<RawEntry>, SourceError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        let (server, timeout, entries) = (&self.server, self.op_timeout, self.entries);
        let item = self.rt.block_on(stream.next());
        let tag = match item {
            Ok(Some(re)) => re.0,
            Ok(None) => {
                let mut result = self.rt.block_on(stream.finish());
                self.stream = None;
                self.references = std::mem::take(&mut result.refs);
                if result.rc == 0 {
                    return Ok(None);
                }
                return Err(search_result_error(&result, server, &self.base, entries));
            }
            Err(LdapError::EndOfStream) => {
                return Err(SourceError::Connect(format!(
                    "the connection to {server} was closed during the search after {entries} entries: the export is incomplete"
                )))
            }
            Err(LdapError::Timeout { .. }) => {
                return Err(SourceError::Connect(format!(
                    "no answer from {server} within {} s during the search after {entries} entries (operation timeout): the export is incomplete",
                    timeout.as_secs_f64()
                )))
            }
            Err(e) => return Err(op_error(e, server, &format!("the search after {entries} entries"), timeout)),
        };
        let (dn, attrs) = decode_entry(tag).map_err(|why| {
            SourceError::Search(format!(
                "malformed entry from {server} after {entries} entries: {why}"
            ))
        })?;
        let entry = self.raw_entry(dn, attrs)?;
        self.entries += 1;
        Ok(Some(entry))
    }

    /// One entry from its DN and attributes, with ranged attributes (AD's
    /// `member;range=0-1499`) fetched to the end.
    fn raw_entry(&mut self, dn: String, attrs: Vec<RawAttribute>) -> Result<RawEntry, SourceError> {
        let mut entry = RawEntry {
            dn,
            ..RawEntry::default()
        };
        let pending = absorb(&mut entry, attrs);
        if !pending.is_empty() {
            let dn = entry.dn.clone();
            complete_ranges(&mut entry, pending, |request| {
                self.read_base(
                    &dn,
                    vec![request.to_owned()],
                    &format!("range retrieval {request} of {dn}"),
                )
            })?;
        }
        Ok(entry)
    }
}

impl DirectorySource for LdapSource {
    fn next_entry(&mut self) -> Result<Option<RawEntry>, SourceError> {
        if let Some(e) = &self.failed {
            return Err(clone_error(e));
        }
        let result = match ldap_panic::catching(|| self.next_inner()) {
            Ok(result) => result,
            Err(panic) => Err(self.malformed(&format!("ldap3: {panic}"))),
        };
        result.map_err(|e| self.fail(e))
    }

    fn ca_material(&mut self) -> Result<Vec<RawEntry>, SourceError> {
        if let Some(e) = &self.failed {
            return Err(clone_error(e));
        }
        let result = match ldap_panic::catching(|| self.read_ca_material()) {
            Ok(result) => result,
            Err(panic) => Err(self.malformed(&format!("ldap3: {panic}"))),
        };
        result.map_err(|e| self.fail(e))
    }

    fn description(&self) -> String {
        let tls = if self.starttls { " (StartTLS)" } else { "" };
        format!(
            "{}{tls} base {} filter {}",
            self.server, self.base, self.filter
        )
    }
}

impl Drop for LdapSource {
    fn drop(&mut self) {
        if self.failed.is_some() {
            return;
        }
        // Polite unbind; the socket closes with the runtime either way.
        self.stream = None;
        let (rt, ldap) = (&self.rt, &mut self.ldap);
        let _ = ldap_panic::catching(|| {
            rt.block_on(async {
                ldap3::tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await
            })
        });
    }
}
