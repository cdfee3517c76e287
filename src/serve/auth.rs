//! Who gets in: the logins of a users file or the one user of the environment, with SCRAM-SHA-256
//! passwords (or, with `--no-auth`, anyone on loopback), and TLS when a certificate is given —
//! never a silent fall-back to plain text.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use pgwire::api::{ClientInfo, ConnectionManager};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::access::Users;
use crate::error::{Error, Result};

/// The password check against the logins of a [`Users`] list. A name that is not a login gets a
/// made-up salt (the same one each time) and fails at the proof, as a wrong password does: which
/// names exist is nobody's business.
#[derive(Debug)]
pub(super) struct Passwords {
    pub(super) users: Arc<Users>,
    /// A secret of this server process, from which the made-up salts are derived.
    pub(super) secret: [u8; 16],
}

#[async_trait]
impl AuthSource for Passwords {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let name = login.user().unwrap_or_default();
        match self.users.get(name) {
            Some(user) => Ok(Password::new(Some(user.salt.clone()), user.salted_password.clone())),
            None => {
                use sha2::Digest as _;
                let made_up = |what: &[u8]| -> Vec<u8> {
                    sha2::Sha256::new()
                        .chain_update(self.secret)
                        .chain_update(what)
                        .chain_update(name)
                        .finalize()
                        .to_vec()
                };
                Ok(Password::new(Some(made_up(b"salt")[..16].to_vec()), made_up(b"password")))
            }
        }
    }
}

/// How long a failed login waits before it is told: guessing passwords is slow, and a wrong
/// name and a wrong password take the same time.
pub(super) const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Loopback without a password.
pub(super) struct OpenDoor {
    pub(super) connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for OpenDoor {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// How a connection logs in.
pub(super) enum LoginWith {
    Open(OpenDoor),
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
}

/// A connection's login, which says when it has succeeded (the listener then lifts the
/// start-up timeout and frees the address's start-up place).
pub(super) struct Login {
    pub(super) how: LoginWith,
    pub(super) logged_in: tokio::sync::watch::Sender<bool>,
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(&self, client: &mut C, message: pgwire::messages::PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = match &self.how {
            LoginWith::Open(door) => door.on_startup(client, message).await,
            LoginWith::Scram(scram) => {
                let result = scram.on_startup(client, message).await;
                if result.is_err() {
                    tokio::time::sleep(FAILED_LOGIN_DELAY).await;
                }
                result
            }
        };
        if result.is_ok() && matches!(client.state(), pgwire::api::PgWireConnectionState::ReadyForQuery) {
            self.logged_in.send_replace(true);
        }
        result
    }
}

/// The TLS acceptor for a configured certificate; a certificate that cannot be used is an error
/// (never a silent fall-back to plain text).
pub(super) fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<pgwire::tokio::TlsAcceptor> {
    use pgwire::tokio::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bad = |what: &std::path::Path, e: String| Error::Tls { path: what.to_path_buf(), message: e };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, e.to_string()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(cert, e.to_string()))?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}
