//! The listener and its limits: connections accepted up to `--max-connections` (refused beyond
//! with SQLSTATE 53300 before they log in), options checked before anything listens.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::{DfSessionService, QueryHook};
use pgwire::api::ConnectionManager;
use pgwire::api::auth::DefaultServerParameterProvider;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::query::ExtendedQueryHandler;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::access::{HASH_ITERATIONS, random_bytes};
use super::audit::Audit;
use super::auth::{Login, LoginWith, OpenDoor, Passwords, tls_acceptor};
use super::bounds::LoginShares;
use super::catalog::connection_context;
use super::session::{AsOfHook, Connection, GuardedParser, Redact, SavepointHook, Session};
use super::versions::{Current, PinnedSchema, Snapshot, Versions};
use super::{Logins, ServeOptions};
use crate::error::{Error, Result};
use crate::storage::Location;

pub(super) const SSL_REQUEST: u32 = 80_877_103;
pub(super) const GSS_REQUEST: u32 = 80_877_104;

/// Read one untyped startup-phase packet (length, then a code) and return its code.
pub(super) async fn read_packet(socket: &mut tokio::net::TcpStream) -> std::io::Result<Option<u32>> {
    use tokio::io::AsyncReadExt;
    let length = socket.read_u32().await? as usize;
    if !(8..=10_000).contains(&length) {
        return Ok(None);
    }
    let code = socket.read_u32().await?;
    let mut rest = vec![0u8; length - 8];
    socket.read_exact(&mut rest).await?;
    Ok(Some(code))
}

/// A FATAL ErrorResponse sent before login (SQLSTATE `code`).
pub(super) fn startup_error(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', message)] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    message.extend_from_slice(&body);
    message
}

/// The ErrorResponse sent to a connection beyond the limit, before it logs in.
pub(super) fn too_many_connections(limit: usize) -> Vec<u8> {
    startup_error("53300", &format!("too many connections: junheng serve allows {limit} at once (--max-connections)"))
}

/// Answer a connection that is refused before login: an SSL or GSS request gets "no" (so that
/// the client reads the error as a login error, and libpq prints its message), then the error.
pub(super) async fn refuse(mut socket: tokio::net::TcpStream, refusal: Vec<u8>) {
    let refuse = async {
        for _ in 0..3 {
            let Ok(Some(code)) = read_packet(&mut socket).await else { break };
            if code == SSL_REQUEST || code == GSS_REQUEST {
                socket.write_all(b"N").await?;
            } else {
                break;
            }
        }
        socket.write_all(&refusal).await?;
        socket.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), refuse).await;
}

pub(super) const CANCEL_REQUEST: u32 = 80_877_102;

/// Whether a client opens with TLS (an SSLRequest, or a TLS record for direct negotiation) or a
/// cancel request (which carries only its key). A GSSAPI encryption request is answered "no"
/// and the next packet looked at. The packet is left for pgwire to read.
pub(super) async fn asks_for_tls(socket: &mut tokio::net::TcpStream) -> std::io::Result<bool> {
    use tokio::io::AsyncReadExt;
    loop {
        let mut head = [0u8; 8];
        let mut seen = 0;
        while seen < 8 {
            seen = socket.peek(&mut head).await?;
            if seen == 0 {
                return Ok(false);
            }
            if head[0] == 0x16 {
                return Ok(true);
            }
            if seen < 8 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        match code {
            SSL_REQUEST | CANCEL_REQUEST => return Ok(true),
            GSS_REQUEST => {
                socket.read_exact(&mut head).await?;
                socket.write_all(b"N").await?;
            }
            _ => return Ok(false),
        }
    }
}

/// Check the options before anything listens.
pub fn check(options: &ServeOptions) -> Result<()> {
    let beyond_loopback = !options.listen.ip().is_loopback();
    if matches!(options.logins, Logins::NoAuth) && beyond_loopback {
        return Err(Error::Usage(format!(
            "refusing to listen on {} with --no-auth: give logins (--users users.toml, or JUNHENG_SERVE_PASSWORD), \
             or listen on 127.0.0.1",
            options.listen
        )));
    }
    if options.tls.is_none() && options.requires_tls() {
        let why = if beyond_loopback { format!("listening on {}", options.listen) } else { "--require-tls".to_owned() };
        return Err(Error::Usage(format!(
            "{why} needs TLS, so that passwords and rows do not cross the network in clear: give --tls-cert and --tls-key"
        )));
    }
    if options.max_connections == 0 || options.max_startups_per_address == 0 || options.max_statements_per_login == 0 {
        return Err(Error::Usage(
            "--max-connections, --max-startups-per-address and --max-statements-per-login must be at least 1".into(),
        ));
    }
    Ok(())
}

/// Connections from each address that have not logged in yet.
#[derive(Debug, Default)]
pub(super) struct Startups {
    by_address: std::sync::Mutex<HashMap<IpAddr, usize>>,
    /// Told whenever a place is given back.
    freed: tokio::sync::Notify,
}

/// One connection's place among its address's [`Startups`], given back when dropped.
pub(super) struct StartupSlot {
    startups: Arc<Startups>,
    address: IpAddr,
}

impl Startups {
    /// A place for a new connection from `address`, unless `limit` are already waiting.
    pub(super) fn take(self: &Arc<Self>, address: IpAddr, limit: usize) -> Option<StartupSlot> {
        let mut by_address = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let waiting = by_address.entry(address).or_default();
        if *waiting >= limit {
            return None;
        }
        *waiting += 1;
        Some(StartupSlot { startups: self.clone(), address })
    }

    /// A place for a new connection from `address`, waiting up to `patience` for one: a burst
    /// of a connection pool's logins waits its turn, idle sockets only hold their own places.
    pub(super) async fn wait_for(
        self: &Arc<Self>,
        address: IpAddr,
        limit: usize,
        patience: Duration,
    ) -> Option<StartupSlot> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.take(address, limit) {
                return Some(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }
}

impl Drop for StartupSlot {
    fn drop(&mut self) {
        let mut by_address = self.startups.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(waiting) = by_address.get_mut(&self.address) {
            *waiting -= 1;
            if *waiting == 0 {
                by_address.remove(&self.address);
            }
        }
        drop(by_address);
        self.startups.freed.notify_waiters();
    }
}

/// How long the accept loop waits after a failed accept (doubling up to a second): when file
/// descriptors run out, it must not spin.
fn accept_backoff(previous: Duration) -> Duration {
    (previous * 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// What every connection shares.
struct Shared {
    out: Location,
    versions: Arc<Versions>,
    options: ServeOptions,
    connections: Arc<ConnectionManager>,
    auth: Option<Arc<Passwords>>,
    certificate: Option<Vec<u8>>,
    audit: Audit,
    running: Arc<LoginShares>,
    /// The output's server paths, kept out of messages to clients.
    redact: Arc<Redact>,
}

/// Serve until the process is stopped (SIGINT or SIGTERM end it cleanly). `on_listening` is told
/// the bound address (useful with port 0) and the version being served.
pub async fn serve(options: ServeOptions, on_listening: impl FnOnce(SocketAddr, &Snapshot)) -> Result<()> {
    check(&options)?;
    let tls = options.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
    let certificate = match &options.tls {
        Some((cert, _)) => {
            Some(std::fs::read(cert).map_err(|source| Error::Io { operation: "read", path: cert.clone(), source })?)
        }
        None => None,
    };
    let out = crate::storage::open(&options.out, false)?;
    let current = Current::open(&out, &options.as_of).await?;
    let snapshot = current.snapshot();
    let versions = Arc::new(Versions {
        out: out.clone(),
        refresh: options.refresh,
        as_of: options.as_of.clone(),
        state: std::sync::Mutex::new(current),
        scoped: tokio::sync::Mutex::new(HashMap::new()),
        earlier: tokio::sync::Mutex::new(HashMap::new()),
    });
    let listener = TcpListener::bind(options.listen).await.map_err(|source| Error::Io {
        operation: "listen on",
        path: options.listen.to_string().into(),
        source,
    })?;
    let bound = listener.local_addr().map_err(|source| Error::Io {
        operation: "listen on",
        path: options.listen.to_string().into(),
        source,
    })?;
    let (audit, audit_writer) = Audit::start(&out, options.audit_log.clone());
    on_listening(bound, &snapshot);
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let startups = Arc::new(Startups::default());
    let auth = match &options.logins {
        Logins::NoAuth => None,
        Logins::Users(users) => Some(Arc::new(Passwords { users: users.clone(), secret: random_bytes() })),
    };
    let require_tls = options.requires_tls();
    let running = Arc::new(LoginShares { per_login: options.max_statements_per_login, by_login: Default::default() });
    let redact = Arc::new(Redact::of(out.local_root.as_deref()));
    let shared = Arc::new(Shared {
        out,
        versions,
        options,
        connections: Arc::new(ConnectionManager::new()),
        auth,
        certificate,
        audit: audit.clone(),
        running,
        redact,
    });
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| Error::Io { operation: "handle signals of", path: "the process".into(), source })?;
    let mut backoff = Duration::ZERO;
    loop {
        let (mut socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = Duration::ZERO;
                    a
                }
                Err(e) => {
                    backoff = accept_backoff(backoff);
                    warn!("accept failed (waiting {} ms before the next): {e}", backoff.as_millis());
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        };
        let (tls, shared, permits, startups) = (tls.clone(), shared.clone(), permits.clone(), startups.clone());
        tokio::spawn(async move {
            let options = &shared.options;
            // A place among this address's logins first (waiting for one), then a connection:
            // sockets that never log in hold only their own address's places.
            let limit = options.max_startups_per_address;
            let Some(slot) = startups.wait_for(peer.ip(), limit, options.startup_timeout).await else {
                warn!(%peer, "connection refused: {limit} connections from this address were still logging in");
                let message = format!(
                    "too many connections from {} are logging in at once (junheng serve allows {limit}: \
                     --max-startups-per-address)",
                    peer.ip()
                );
                refuse(socket, startup_error("53300", &message)).await;
                return;
            };
            let Ok(_permit) = permits.try_acquire_owned() else {
                warn!(%peer, "connection refused: {} connections already open", options.max_connections);
                refuse(socket, too_many_connections(options.max_connections)).await;
                return;
            };
            let timeout = shared.options.startup_timeout;
            if require_tls && !matches!(tokio::time::timeout(timeout, asks_for_tls(&mut socket)).await, Ok(Ok(true))) {
                info!(%peer, "refused a connection that did not ask for TLS");
                let message = "this server requires TLS: connect with sslmode=verify-full (or require)";
                refuse(socket, startup_error("28000", message)).await;
                return;
            }
            let (logged_in, mut on_login) = tokio::sync::watch::channel(false);
            let connection = match new_connection(&shared, logged_in).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(%peer, "cannot set up a session: {e}");
                    return;
                }
            };
            let process = pgwire::tokio::process_socket(socket, tls, Arc::new(connection));
            tokio::pin!(process);
            let logged_in = tokio::select! {
                ended = &mut process => {
                    if let Err(e) = ended {
                        info!(%peer, "connection ended before login: {e}");
                    }
                    return;
                }
                _ = tokio::time::sleep(timeout) => false,
                _ = on_login.wait_for(|done| *done) => true,
            };
            drop(slot);
            if !logged_in {
                info!(%peer, "closed a connection that had not logged in within {} s (--startup-timeout)", timeout.as_secs());
                return;
            }
            if let Err(e) = process.await {
                info!(%peer, "connection ended: {e}");
            }
        });
    }
    // Open connections may still log statements; the lines so far are written now.
    audit.close();
    let _ = tokio::time::timeout(Duration::from_secs(30), audit_writer).await;
    Ok(())
}

async fn new_connection(shared: &Shared, logged_in: tokio::sync::watch::Sender<bool>) -> Result<Connection> {
    let snapshot = Arc::new(RwLock::new(Arc::new(Snapshot::empty())));
    let pinned = Arc::new(PinnedSchema { snapshot: snapshot.clone(), information_schema: false });
    let pinned_information = Arc::new(PinnedSchema { snapshot, information_schema: true });
    let options = &shared.options;
    let ctx =
        Arc::new(connection_context(&shared.out, pinned.clone(), pinned_information, options.memory_limit).await?);
    let as_of = AsOfHook::default();
    let chosen = as_of.chosen.clone();
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        // Before SetShowHook, which would keep `junheng.as_of` as a mere client setting.
        Arc::new(as_of),
        Arc::new(SavepointHook),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let inner = DfSessionService::new_with_hooks(ctx, hooks);
    let parser = Arc::new(GuardedParser {
        inner: ExtendedQueryHandler::query_parser(&inner),
        pinned,
        versions: shared.versions.clone(),
        sql_parser: PostgresCompatibilityParser::new(),
        logins: shared.options.logins.clone(),
        audit: shared.audit.clone(),
        redact: shared.redact.clone(),
        as_of: chosen,
    });
    let session = Arc::new(Session {
        inner,
        parser,
        limit: options.statement_timeout,
        running: shared.running.clone(),
        statement_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    });
    let connections = &shared.connections;
    let how = match &shared.auth {
        None => LoginWith::Open(OpenDoor { connections: connections.clone() }),
        Some(passwords) => {
            let mut scram = ScramAuth::new(passwords.clone());
            scram.set_iterations(HASH_ITERATIONS);
            if let Some(certificate) = &shared.certificate {
                // SCRAM-SHA-256-PLUS: the proof is bound to this server's certificate, so a
                // man in the middle with another certificate cannot relay a login.
                scram.configure_certificate(certificate).map_err(|e| Error::Tls {
                    path: options.tls.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                    message: e.to_string(),
                })?;
            }
            let mut parameters = DefaultServerParameterProvider::default();
            parameters.is_superuser = false;
            parameters.default_transaction_read_only = true;
            LoginWith::Scram(
                SASLAuthStartupHandler::new(Arc::new(parameters))
                    .with_connection_manager(connections.clone())
                    .with_scram(scram),
            )
        }
    };
    let login = Login { how, logged_in };
    Ok(Connection { session, login: Arc::new(login), cancel: Arc::new(DefaultCancelHandler::new(connections.clone())) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::Users;

    fn options() -> ServeOptions {
        ServeOptions {
            out: "out".into(),
            as_of: crate::query::AsOf::Latest,
            listen: "0.0.0.0:5433".parse().unwrap(),
            logins: Logins::NoAuth,
            tls: None,
            require_tls: false,
            startup_timeout: Duration::from_secs(10),
            max_startups_per_address: 8,
            audit_log: None,
            statement_timeout: Duration::from_secs(60),
            memory_limit: 1 << 30,
            max_connections: 8,
            max_statements_per_login: 4,
            refresh: Duration::from_secs(1),
        }
    }

    #[test]
    fn beyond_loopback_needs_logins_and_tls() {
        let options = options();
        let users = Logins::Users(Arc::new(Users::one("junheng", "a long enough password")));
        let tls = Some(("server.crt".into(), "server.key".into()));
        assert!(check(&options).unwrap_err().to_string().contains("--no-auth"));
        let no_tls = ServeOptions { logins: users.clone(), ..options.clone() };
        assert!(check(&no_tls).unwrap_err().to_string().contains("needs TLS"));
        assert!(check(&ServeOptions { tls: tls.clone(), ..no_tls.clone() }).is_ok());
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(check(&ServeOptions { listen: loopback, ..options.clone() }).is_ok());
        let required = ServeOptions { listen: loopback, require_tls: true, ..options.clone() };
        assert!(check(&required).unwrap_err().to_string().contains("--require-tls needs TLS"));
        assert!(check(&ServeOptions { tls, ..required }).is_ok());
    }

    #[test]
    fn an_address_has_a_limited_number_of_places_to_log_in_from() {
        let startups = Arc::new(Startups::default());
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        let first = startups.take(address, 2).unwrap();
        let _second = startups.take(address, 2).unwrap();
        assert!(startups.take(address, 2).is_none());
        assert!(startups.take("10.0.0.2".parse().unwrap(), 2).is_some());
        drop(first);
        assert!(startups.take(address, 2).is_some());
    }

    #[test]
    fn failed_accepts_back_off_up_to_a_second() {
        let mut wait = Duration::ZERO;
        let waits: Vec<u128> = (0..10)
            .map(|_| {
                wait = accept_backoff(wait);
                wait.as_millis()
            })
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    }

    #[test]
    pub(super) fn the_connection_refusal_is_a_well_formed_error_response() {
        let message = too_many_connections(4);
        assert_eq!(message[0], b'E');
        let length = i32::from_be_bytes([message[1], message[2], message[3], message[4]]) as usize;
        assert_eq!(length + 1, message.len());
        assert!(String::from_utf8_lossy(&message).contains("53300"));
    }
}
