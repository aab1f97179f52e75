//! TLS on the edge's listeners (`[tls]`): the certificate chain and key are read at the start and
//! again on `SIGHUP` (a renewed certificate is used for the next handshakes; open connections and
//! the listeners are untouched), handed to each handshake by Pingora's certificate callback.
//! A file that cannot be read or does not match keeps the certificate in use, with an error logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use pingora::listeners::TlsAccept;
use pingora::tls::ext;
use pingora::tls::pkey::{PKey, Private};
use pingora::tls::ssl::SslRef;
use pingora::tls::x509::X509;

/// Makes Pingora's TLS client contexts skip the system's CA certificates. The edge is a TLS
/// server only: storages, peers and its own image service are plain HTTP, so no connection of
/// its own verifies a certificate. Pingora builds a client context per connector all the same
/// (two per proxy service) and each parses the whole CA bundle (about 140 certificates): with
/// the bundle that was nine tenths of the instructions of a start and most of its 150 ms to the
/// first answer; without it, 30 ms. `SSL_CERT_FILE=/dev/null` leaves the contexts empty (OpenSSL
/// ignores a file with no certificates there), whatever the environment said: nothing of the
/// edge would use it. (A TLS upstream, if one is ever added, must give its contexts a CA file.)
/// Called first in `main`, before any thread exists (the environment is process-wide).
pub fn skip_client_ca_bundle() {
    std::env::set_var("SSL_CERT_FILE", "/dev/null");
}

/// A certificate chain (leaf first) and its private key.
struct Loaded {
    chain: Vec<X509>,
    key: PKey<Private>,
}

/// The certificate in use and where it comes from.
pub struct Certs {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<Loaded>>,
}

fn load(cert: &Path, key: &Path) -> Result<Loaded, String> {
    let pem = std::fs::read(cert).map_err(|e| format!("certificate {}: {e}", cert.display()))?;
    let chain =
        X509::stack_from_pem(&pem).map_err(|e| format!("certificate {}: {e}", cert.display()))?;
    let Some(leaf) = chain.first() else {
        return Err(format!(
            "certificate {}: no certificate in it",
            cert.display()
        ));
    };
    let pem = std::fs::read(key).map_err(|e| format!("key {}: {e}", key.display()))?;
    let key_pem =
        PKey::private_key_from_pem(&pem).map_err(|e| format!("key {}: {e}", key.display()))?;
    let public = leaf
        .public_key()
        .map_err(|e| format!("certificate {}: {e}", cert.display()))?;
    if !public.public_eq(&key_pem) {
        return Err(format!(
            "key {} does not belong to the certificate {}",
            key.display(),
            cert.display()
        ));
    }
    Ok(Loaded {
        chain,
        key: key_pem,
    })
}

impl Certs {
    /// Reads the certificate and key (the start fails on an error).
    pub fn open(cert: &Path, key: &Path) -> Result<Certs, String> {
        let loaded = load(cert, key)?;
        Ok(Certs {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    /// `SIGHUP`: reads the files again; on an error the certificate in use stays.
    pub fn reload(&self) {
        match load(&self.cert, &self.key) {
            Ok(l) => {
                *self.current.write() = Arc::new(l);
                tracing::info!("SIGHUP: TLS certificate {} reloaded", self.cert.display());
            }
            Err(e) => {
                tracing::error!("SIGHUP: TLS certificate not reloaded, the old one stays: {e}")
            }
        }
    }
}

/// Pingora's handshake callback over shared [`Certs`].
pub struct CertCallback(pub Arc<Certs>);

#[async_trait]
impl TlsAccept for CertCallback {
    async fn certificate_callback(&self, ssl: &mut SslRef) {
        let l = self.0.current.read().clone();
        let mut chain = l.chain.iter();
        let used = chain
            .next()
            .map(|leaf| ext::ssl_use_certificate(ssl, leaf))
            .transpose()
            .and_then(|_| chain.try_for_each(|c| ext::ssl_add_chain_cert(ssl, c)))
            .and_then(|()| ext::ssl_use_private_key(ssl, &l.key));
        if let Err(e) = used {
            // the handshake then fails for this client alone
            tracing::error!("TLS handshake: certificate not set: {e}");
        }
    }
}

/// What `-t` and a start check: the files are readable, parse, and match.
pub fn check(cert: &Path, key: &Path) -> Result<(), String> {
    load(cert, key).map(|_| ())
}
