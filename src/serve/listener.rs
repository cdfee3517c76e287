//! The listener and its limits: connections accepted up to `--max-connections` (refused beyond
//! with SQLSTATE 53300 before they log in), options checked before anything listens.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

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

use super::ServeOptions;
use super::auth::{Login, OneUser, OpenDoor, SCRAM_ITERATIONS, tls_acceptor};
use super::catalog::connection_context;
use super::session::{Connection, GuardedParser, SavepointHook, Session};
use super::versions::{PinnedSchema, Snapshot, Versions};
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

/// The ErrorResponse sent to a connection beyond the limit, before it logs in.
pub(super) fn too_many_connections(limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL".to_owned()),
        (b'V', "FATAL".to_owned()),
        (b'C', "53300".to_owned()),
        (b'M', format!("too many connections: junheng serve allows {limit} at once (--max-connections)")),
    ] {
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

/// Check the options before anything listens.
pub fn check(options: &ServeOptions) -> Result<()> {
    if options.password.is_none() && !options.listen.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "refusing to listen on {} without a password: set JUNHENG_SERVE_PASSWORD (and give a TLS certificate \
             with --tls-cert/--tls-key), or listen on 127.0.0.1",
            options.listen
        )));
    }
    if options.max_connections == 0 {
        return Err(Error::Usage("--max-connections must be at least 1".into()));
    }
    Ok(())
}

/// Serve until the process is stopped (SIGINT or SIGTERM end it cleanly). `on_listening` is told
/// the bound address (useful with port 0) and the version being served.
pub async fn serve(options: ServeOptions, on_listening: impl FnOnce(SocketAddr, &Snapshot)) -> Result<()> {
    check(&options)?;
    let tls = options.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
    let out = crate::storage::open(&options.out, false)?;
    let snapshot = Arc::new(Snapshot::open(&out).await?);
    let versions = Arc::new(Versions {
        out: out.clone(),
        refresh: options.refresh,
        state: tokio::sync::Mutex::new((snapshot.clone(), Instant::now())),
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
    on_listening(bound, &snapshot);
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let connections = Arc::new(ConnectionManager::new());
    let options = Arc::new(options);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| Error::Io { operation: "handle signals of", path: "the process".into(), source })?;
    loop {
        let (mut socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!("accept failed: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            warn!(%peer, "connection refused: {} connections already open", options.max_connections);
            let refusal = too_many_connections(options.max_connections);
            tokio::spawn(async move {
                let refuse = async {
                    // Answer an SSL or GSS request with "no", so that the client reads the error as a
                    // login error (libpq prints its message then), and wait for the startup packet.
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
            });
            continue;
        };
        let (tls, out, versions, options, connections) =
            (tls.clone(), out.clone(), versions.clone(), options.clone(), connections.clone());
        tokio::spawn(async move {
            let connection = match new_connection(&out, &versions, &options, &connections).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(%peer, "cannot set up a session: {e}");
                    return;
                }
            };
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, Arc::new(connection)).await {
                info!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
}

pub(super) async fn new_connection(
    out: &Location,
    versions: &Arc<Versions>,
    options: &ServeOptions,
    connections: &Arc<ConnectionManager>,
) -> Result<Connection> {
    let snapshot = Arc::new(RwLock::new(versions.current().await));
    let pinned = Arc::new(PinnedSchema { snapshot: snapshot.clone(), information_schema: false });
    let pinned_information = Arc::new(PinnedSchema { snapshot, information_schema: true });
    let ctx = Arc::new(connection_context(out, pinned.clone(), pinned_information, options.memory_limit).await?);
    let hooks: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(SavepointHook),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let inner = DfSessionService::new_with_hooks(ctx, hooks);
    let parser = Arc::new(GuardedParser {
        inner: ExtendedQueryHandler::query_parser(&inner),
        pinned,
        versions: versions.clone(),
        sql_parser: PostgresCompatibilityParser::new(),
    });
    let session = Arc::new(Session { inner, parser, limit: options.statement_timeout });
    let login = match &options.password {
        None => Login::Open(OpenDoor { connections: connections.clone() }),
        Some(password) => {
            let mut scram =
                ScramAuth::new(Arc::new(OneUser { user: options.user.clone(), password: password.clone() }));
            scram.set_iterations(SCRAM_ITERATIONS);
            let mut parameters = DefaultServerParameterProvider::default();
            parameters.is_superuser = false;
            parameters.default_transaction_read_only = true;
            Login::Scram(
                SASLAuthStartupHandler::new(Arc::new(parameters))
                    .with_connection_manager(connections.clone())
                    .with_scram(scram),
            )
        }
    };
    Ok(Connection { session, login: Arc::new(login), cancel: Arc::new(DefaultCancelHandler::new(connections.clone())) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn non_loopback_needs_a_password() {
        let options = ServeOptions {
            out: "out".into(),
            listen: "0.0.0.0:5433".parse().unwrap(),
            user: "junheng".into(),
            password: None,
            tls: None,
            statement_timeout: Duration::from_secs(60),
            memory_limit: 1 << 30,
            max_connections: 8,
            refresh: Duration::from_secs(1),
        };
        assert!(check(&options).unwrap_err().to_string().contains("JUNHENG_SERVE_PASSWORD"));
        assert!(check(&ServeOptions { password: Some("x".into()), ..options.clone() }).is_ok());
        assert!(check(&ServeOptions { listen: "127.0.0.1:0".parse().unwrap(), ..options }).is_ok());
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
