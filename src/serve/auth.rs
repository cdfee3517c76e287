//! Who gets in: one user with a SCRAM-SHA-256 password (or, without one, anyone on loopback),
//! and TLS when a certificate is given — never a silent fall-back to plain text.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::gen_salted_password;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use pgwire::api::{ClientInfo, ConnectionManager};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::error::{Error, Result};

/// The password check: one user, its password salted and hashed for SCRAM-SHA-256.
#[derive(Debug)]
pub(super) struct OneUser {
    pub(super) user: String,
    pub(super) password: String,
}

#[async_trait]
impl AuthSource for OneUser {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if login.user() != Some(self.user.as_str()) {
            // The same error as a wrong password: which user names exist is nobody's business.
            return Err(PgWireError::InvalidPassword(login.user().unwrap_or_default().to_owned()));
        }
        let salt: [u8; 16] = rand_salt();
        Ok(Password::new(Some(salt.to_vec()), gen_salted_password(&self.password, &salt, SCRAM_ITERATIONS)))
    }
}

pub(super) const SCRAM_ITERATIONS: usize = 4096;

/// Sixteen bytes that differ per login (SCRAM's salt need not be secret, only fresh).
pub(super) fn rand_salt() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut salt = [0u8; 16];
    for chunk in salt.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    salt
}

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
pub(super) enum Login {
    Open(OpenDoor),
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(&self, client: &mut C, message: pgwire::messages::PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Login::Open(door) => door.on_startup(client, message).await,
            Login::Scram(scram) => scram.on_startup(client, message).await,
        }
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
