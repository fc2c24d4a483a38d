//! TLS configuration: certificates and keys per hostname, loaded from PEM
//! files or memory, or generated; replaceable while serving.
//!
//! A [`TlsConfig`] is a shared handle, so replacing a certificate through
//! any clone affects the next handshake on every port that uses it, while
//! established connections keep the certificate they were set up with. The
//! handshake itself (SNI, ALPN) is the server's (`server::tls`).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;

use crate::proto::http::host::normalize;

// ---------------------------------------------------------------------------
// Errors

/// What went wrong while loading TLS certificates or keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// A file could not be read.
    Read,
    /// The certificate file holds no PEM certificate.
    NoCertificate,
    /// The key file holds no PEM private key.
    NoPrivateKey,
    /// A PEM section or the key could not be parsed, or the key type is
    /// not supported.
    InvalidKey,
    /// The private key does not belong to the certificate.
    KeyMismatch,
    /// A certificate could not be generated.
    Generate,
}

/// An error loading TLS material, naming the file (or `<memory>` for PEM
/// given as bytes).
#[derive(Debug)]
pub struct TlsError {
    kind: TlsErrorKind,
    path: Option<PathBuf>,
    message: String,
    source: Option<io::Error>,
}

impl TlsError {
    fn new(kind: TlsErrorKind, path: Option<&Path>, message: impl Into<String>) -> Self {
        TlsError {
            kind,
            path: path.map(Path::to_path_buf),
            message: message.into(),
            source: None,
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The file the problem is in, when it came from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl TlsError {
    /// The I/O error kind this error stands for: the file error's own, or
    /// `InvalidInput`.
    pub(crate) fn io_kind(&self) -> io::ErrorKind {
        match &self.source {
            Some(s) => s.kind(),
            None => io::ErrorKind::InvalidInput,
        }
    }
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(e.io_kind(), e)
    }
}

// ---------------------------------------------------------------------------
// Loading

/// Where a certificate came from, so that [`TlsConfig::reload`] can read it
/// again.
#[derive(Clone, Debug)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    Memory,
}

/// Names a PEM source in messages.
fn label(path: Option<&Path>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "<memory>".to_string(),
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError {
        kind: TlsErrorKind::Read,
        path: Some(path.to_path_buf()),
        message: format!("cannot read {what} file {}: {e}", path.display()),
        source: Some(e),
    })
}

fn parse_certs(pem: &[u8], path: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut reader = pem;
    let mut certs = Vec::new();
    for item in rustls_pemfile::certs(&mut reader) {
        match item {
            Ok(c) => certs.push(c),
            Err(e) => {
                return Err(TlsError::new(
                    TlsErrorKind::NoCertificate,
                    path,
                    format!("{}: malformed PEM certificate: {e}", label(path)),
                ))
            }
        }
    }
    if certs.is_empty() {
        return Err(TlsError::new(
            TlsErrorKind::NoCertificate,
            path,
            format!("{}: no PEM certificate found", label(path)),
        ));
    }
    Ok(certs)
}

fn parse_key(pem: &[u8], path: Option<&Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut reader = pem;
    match rustls_pemfile::private_key(&mut reader) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(TlsError::new(
            TlsErrorKind::NoPrivateKey,
            path,
            format!("{}: no PEM private key found", label(path)),
        )),
        Err(e) => Err(TlsError::new(
            TlsErrorKind::InvalidKey,
            path,
            format!("{}: malformed PEM private key: {e}", label(path)),
        )),
    }
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a certified key and checks that the key belongs to the
/// certificate.
fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: Option<&Path>,
    key_path: Option<&Path>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = parse_certs(cert_pem, cert_path)?;
    let key = parse_key(key_pem, key_path)?;
    let signing = provider().key_provider.load_private_key(key).map_err(|e| {
        TlsError::new(
            TlsErrorKind::InvalidKey,
            key_path,
            format!("{}: unusable private key: {e}", label(key_path)),
        )
    })?;
    let ck = CertifiedKey::new(certs, signing);
    match ck.keys_match() {
        Ok(()) => Ok(Arc::new(ck)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::new(
                TlsErrorKind::KeyMismatch,
                key_path,
                format!(
                    "{}: the private key does not match the certificate in {}",
                    label(key_path),
                    label(cert_path)
                ),
            ))
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(ck)),
        Err(e) => Err(TlsError::new(
            TlsErrorKind::NoCertificate,
            cert_path,
            format!("{}: unusable certificate: {e}", label(cert_path)),
        )),
    }
}

fn load(source: &Source) -> Result<Arc<CertifiedKey>, TlsError> {
    match source {
        Source::Files { cert, key } => {
            let c = read_file(cert, "certificate")?;
            let k = read_file(key, "private key")?;
            certified_key(&c, &k, Some(cert), Some(key))
        }
        Source::Memory => Err(TlsError::new(
            TlsErrorKind::Read,
            None,
            "<memory>: certificate given as bytes cannot be re-read",
        )),
    }
}

/// True when the end-entity certificate is valid for `name` (DNS name or
/// IP address); `None` when that cannot be told.
pub(crate) fn covers(key: &CertifiedKey, name: &str) -> Option<bool> {
    let cert = key.end_entity_cert().ok()?;
    let parsed = ParsedCertificate::try_from(cert).ok()?;
    let server_name = ServerName::try_from(name).ok()?;
    Some(rustls::client::verify_server_name(&parsed, &server_name).is_ok())
}

// ---------------------------------------------------------------------------
// TlsConfig

/// One certificate with the name it was registered for (`None`: the
/// config's default certificate).
#[derive(Clone)]
struct Entry {
    name: Option<String>,
    key: Arc<CertifiedKey>,
    source: Source,
}

/// The certificates of a [`TlsConfig`] at one moment. Replaced whole on
/// every change, so a handshake always sees a consistent set.
#[derive(Clone, Default)]
struct Certs {
    entries: Vec<Entry>,
    /// Lowercase name (or `*.suffix`) → index into `entries`.
    index: HashMap<String, usize>,
}

impl Certs {
    fn insert(&mut self, entry: Entry) {
        let pos = self.entries.iter().position(|e| e.name == entry.name);
        match pos.and_then(|i| self.entries.get_mut(i)) {
            Some(slot) => *slot = entry,
            None => self.entries.push(entry),
        }
        self.reindex();
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.name.clone().map(|n| (n, i)))
            .collect();
    }

    /// The certificate registered for `name`, exactly or by a wildcard
    /// covering its left-most label (RFC 6125 §6.4.3).
    fn for_name(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let i = self.index.get(name).copied().or_else(|| {
            let (_, rest) = name.split_once('.')?;
            self.index.get(&format!("*.{rest}")).copied()
        })?;
        self.entries.get(i).map(|e| &e.key)
    }

    /// The certificate for names nothing else matches: the one set with
    /// [`TlsConfig::default_cert`], or else the first one added.
    fn default_key(&self) -> Option<&Arc<CertifiedKey>> {
        self.entries
            .iter()
            .find(|e| e.name.is_none())
            .or_else(|| self.entries.first())
            .map(|e| &e.key)
    }
}

/// TLS certificates for one or more hostnames.
///
/// ```no_run
/// # fn main() -> Result<(), duet::TlsError> {
/// use duet::{Server, TlsConfig};
/// let tls = TlsConfig::new()
///     .host("localhost", "certs/localhost.pem", "certs/localhost.key")?
///     .host("example.com", "certs/example.pem", "certs/example.key")?;
/// let local = Server::bind(443).hostname("localhost").tls(tls.clone());
/// let example = Server::bind(443).hostname("example.com").tls(tls.clone());
/// // Later, e.g. on SIGHUP: read every certificate file again.
/// tls.reload()?;
/// # Ok(()) }
/// ```
///
/// During a handshake the certificate is chosen in this order: the one
/// registered for the SNI name (exactly, or a `*.domain` wildcard), the one
/// registered for one of the chosen server's hostnames, the default
/// certificate ([`TlsConfig::default_cert`], or else the first one added).
/// So a config holding a single certificate serves it for every name.
///
/// A `TlsConfig` is a handle: clones share the same certificates. Methods
/// taking `&self` ([`TlsConfig::reload`], [`TlsConfig::set_host`], ...)
/// replace certificates while the server runs; new handshakes use the new
/// certificate at once, established connections are not disturbed.
#[derive(Clone, Default)]
pub struct TlsConfig {
    certs: Arc<RwLock<Arc<Certs>>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certs = self.snapshot();
        let names: Vec<&str> = certs
            .entries
            .iter()
            .map(|e| e.name.as_deref().unwrap_or("(default)"))
            .collect();
        f.debug_struct("TlsConfig").field("names", &names).finish()
    }
}

impl TlsConfig {
    /// A config without certificates; add them with [`TlsConfig::host`].
    pub fn new() -> Self {
        TlsConfig::default()
    }

    /// A config with one certificate from PEM bytes (chain, then key),
    /// registered for `name`.
    pub fn from_pem(
        name: &str,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, TlsError> {
        TlsConfig::new().host_pem(name, cert_pem, key_pem)
    }

    /// A config with a freshly generated self-signed certificate valid for
    /// `names` (DNS names, or IP addresses such as `127.0.0.1`), used for
    /// every name. Clients must be told to trust it (`curl -k`).
    pub fn self_signed(names: &[&str]) -> Result<Self, TlsError> {
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let generated = rcgen::generate_simple_self_signed(sans).map_err(|e| {
            TlsError::new(
                TlsErrorKind::Generate,
                None,
                format!("cannot generate a self-signed certificate: {e}"),
            )
        })?;
        let cert_pem = generated.cert.pem();
        let key_pem = generated.key_pair.serialize_pem();
        let key = certified_key(cert_pem.as_bytes(), key_pem.as_bytes(), None, None)?;
        let cfg = TlsConfig::new();
        cfg.update(|c| {
            c.insert(Entry {
                name: None,
                key: key.clone(),
                source: Source::Memory,
            });
            for n in names {
                c.insert(Entry {
                    name: Some(normalize(n)),
                    key: key.clone(),
                    source: Source::Memory,
                });
            }
        });
        Ok(cfg)
    }

    /// Adds the certificate chain in `cert_file` and the private key in
    /// `key_file` (PEM; they may be the same file) for `name`. `name` may
    /// be a wildcard such as `*.example.com`. Errors name the file that is
    /// missing, holds no certificate or key, or whose key does not match.
    pub fn host(
        self,
        name: &str,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        self.set_host(name, cert_file, key_file)?;
        Ok(self)
    }

    /// Adds a certificate chain and private key given as PEM bytes for
    /// `name`.
    pub fn host_pem(
        self,
        name: &str,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, TlsError> {
        self.set_host_pem(name, cert_pem, key_pem)?;
        Ok(self)
    }

    /// Sets the default certificate from PEM files: served when neither the
    /// SNI name nor the server's hostnames have a certificate of their own
    /// (a client without SNI, say).
    pub fn default_cert(
        self,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let source = Source::Files {
            cert: cert_file.as_ref().to_path_buf(),
            key: key_file.as_ref().to_path_buf(),
        };
        let key = load(&source)?;
        self.update(|c| {
            c.insert(Entry {
                name: None,
                key,
                source,
            })
        });
        Ok(self)
    }

    /// Adds or replaces the certificate for `name` from PEM files, while
    /// serving: the next handshake for `name` uses it. On error nothing
    /// changes.
    pub fn set_host(
        &self,
        name: &str,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Result<(), TlsError> {
        let source = Source::Files {
            cert: cert_file.as_ref().to_path_buf(),
            key: key_file.as_ref().to_path_buf(),
        };
        let key = load(&source)?;
        warn_if_not_covered(&key, name, &source);
        let name = normalize(name);
        self.update(|c| {
            c.insert(Entry {
                name: Some(name),
                key,
                source,
            })
        });
        Ok(())
    }

    /// Adds or replaces the certificate for `name` from PEM bytes, while
    /// serving. On error nothing changes.
    pub fn set_host_pem(
        &self,
        name: &str,
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<(), TlsError> {
        let key = certified_key(cert_pem.as_ref(), key_pem.as_ref(), None, None)?;
        warn_if_not_covered(&key, name, &Source::Memory);
        let name = normalize(name);
        self.update(|c| {
            c.insert(Entry {
                name: Some(name),
                key,
                source: Source::Memory,
            })
        });
        Ok(())
    }

    /// Reads every certificate that came from files again and swaps them
    /// all in at once (the binary calls this on SIGHUP). If any file fails
    /// to load, nothing changes and the error names the file. Returns how
    /// many certificates were reloaded.
    pub fn reload(&self) -> Result<usize, TlsError> {
        let current = self.snapshot();
        let mut fresh = Vec::new();
        for e in &current.entries {
            if let Source::Files { .. } = e.source {
                fresh.push((e.name.clone(), e.key.clone(), load(&e.source)?));
            }
        }
        let n = fresh.len();
        self.update(|c| {
            for (name, old, new) in fresh {
                // An entry replaced meanwhile (by `set_host`) is left alone.
                if let Some(e) = c
                    .entries
                    .iter_mut()
                    .find(|e| e.name == name && Arc::ptr_eq(&e.key, &old))
                {
                    e.key = new;
                }
            }
        });
        Ok(n)
    }

    /// The names certificates are registered for, lowercase, in the order
    /// added (the default certificate is not listed).
    pub fn names(&self) -> Vec<String> {
        self.snapshot()
            .entries
            .iter()
            .filter_map(|e| e.name.clone())
            .collect()
    }

    /// True when no certificate has been added.
    pub fn is_empty(&self) -> bool {
        self.snapshot().entries.is_empty()
    }

    fn snapshot(&self) -> Arc<Certs> {
        match self.certs.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Certs)) {
        let mut guard = match self.certs.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = (**guard).clone();
        f(&mut next);
        *guard = Arc::new(next);
    }

    /// The certificate for a handshake naming `sni`, served by a virtual
    /// server answering for `server_names`.
    pub(crate) fn pick(
        &self,
        sni: Option<&str>,
        server_names: &[String],
    ) -> Option<Arc<CertifiedKey>> {
        let certs = self.snapshot();
        sni.and_then(|n| certs.for_name(n))
            .or_else(|| server_names.iter().find_map(|n| certs.for_name(n)))
            .or_else(|| certs.default_key())
            .cloned()
    }
}

fn warn_if_not_covered(key: &CertifiedKey, name: &str, source: &Source) {
    // A wildcard is checked with a name it should cover.
    let checked = match name.strip_prefix("*.") {
        Some(rest) => format!("wildcard-check.{rest}"),
        None => name.to_string(),
    };
    if covers(key, &checked) == Some(false) {
        let from = match source {
            Source::Files { cert, .. } => cert.display().to_string(),
            Source::Memory => "<memory>".to_string(),
        };
        tracing::warn!(target: "duet", "{from}: the certificate is not valid for {name:?}; clients that check it will refuse it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_pair(names: &[&str]) -> (String, String) {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let g = rcgen::generate_simple_self_signed(sans).expect("generate");
        (g.cert.pem(), g.key_pair.serialize_pem())
    }

    fn end_entity(key: &CertifiedKey) -> Vec<u8> {
        key.end_entity_cert().expect("cert").to_vec()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "duet-tls-unit-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn picks_by_name_wildcard_server_name_then_default() {
        let (a_cert, a_key) = pem_pair(&["a.test"]);
        let (w_cert, w_key) = pem_pair(&["*.w.test"]);
        let tls = TlsConfig::from_pem("A.test", &a_cert, &a_key)
            .and_then(|t| t.host_pem("*.w.test", &w_cert, &w_key))
            .expect("config");
        let a = tls.pick(Some("a.test"), &[]).expect("a");
        let w = tls.pick(Some("x.w.test"), &[]).expect("w");
        assert_ne!(end_entity(&a), end_entity(&w));
        // A wildcard covers one label only.
        let deep = tls.pick(Some("y.x.w.test"), &[]).expect("default");
        assert_eq!(end_entity(&deep), end_entity(&a), "first added is default");
        // No SNI: the server's own hostname decides.
        let by_server = tls.pick(None, &["q.w.test".to_string()]).expect("w");
        assert_eq!(end_entity(&by_server), end_entity(&w));
        assert_eq!(tls.names(), vec!["a.test", "*.w.test"]);
    }

    #[test]
    fn single_certificate_serves_every_name() {
        let (c, k) = pem_pair(&["only.test"]);
        let tls = TlsConfig::from_pem("only.test", &c, &k).expect("config");
        assert!(tls.pick(Some("other.test"), &[]).is_some());
        assert!(tls.pick(None, &[]).is_some());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = temp_dir("errors");
        let (c1, k1) = pem_pair(&["one.test"]);
        let (_c2, k2) = pem_pair(&["two.test"]);
        let cert = dir.join("one.pem");
        let key = dir.join("one.key");
        let other_key = dir.join("two.key");
        let missing = dir.join("missing.pem");
        std::fs::write(&cert, &c1).expect("write");
        std::fs::write(&key, &k1).expect("write");
        std::fs::write(&other_key, &k2).expect("write");

        let e = TlsConfig::new()
            .host("one.test", &missing, &key)
            .expect_err("missing file");
        assert_eq!(e.kind(), TlsErrorKind::Read);
        assert!(e.to_string().contains("missing.pem"), "{e}");
        assert_eq!(e.path(), Some(missing.as_path()));

        // The key file given as the certificate: no certificate in it.
        let e = TlsConfig::new()
            .host("one.test", &key, &key)
            .expect_err("no cert");
        assert_eq!(e.kind(), TlsErrorKind::NoCertificate);
        assert!(e.to_string().contains("one.key"), "{e}");

        let e = TlsConfig::new()
            .host("one.test", &cert, &cert)
            .expect_err("no key");
        assert_eq!(e.kind(), TlsErrorKind::NoPrivateKey);
        assert!(e.to_string().contains("one.pem"), "{e}");

        let e = TlsConfig::new()
            .host("one.test", &cert, &other_key)
            .expect_err("mismatch");
        assert_eq!(e.kind(), TlsErrorKind::KeyMismatch);
        assert!(e.to_string().contains("two.key"), "{e}");
        assert!(e.to_string().contains("one.pem"), "{e}");

        assert!(TlsConfig::new().host("one.test", &cert, &key).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reload_rereads_files_and_keeps_old_on_error() {
        let dir = temp_dir("reload");
        let cert = dir.join("r.pem");
        let key = dir.join("r.key");
        let (c1, k1) = pem_pair(&["r.test"]);
        std::fs::write(&cert, &c1).expect("write");
        std::fs::write(&key, &k1).expect("write");
        let tls = TlsConfig::new().host("r.test", &cert, &key).expect("load");
        let before = end_entity(&tls.pick(Some("r.test"), &[]).expect("cert"));

        let (c2, k2) = pem_pair(&["r.test"]);
        std::fs::write(&cert, &c2).expect("write");
        // The key no longer matches: reload fails and changes nothing.
        let e = tls.reload().expect_err("mismatch");
        assert_eq!(e.kind(), TlsErrorKind::KeyMismatch);
        let still = end_entity(&tls.pick(Some("r.test"), &[]).expect("cert"));
        assert_eq!(before, still);

        std::fs::write(&key, &k2).expect("write");
        assert_eq!(tls.reload().expect("reload"), 1);
        let after = end_entity(&tls.pick(Some("r.test"), &[]).expect("cert"));
        assert_ne!(before, after);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn clones_share_certificates() {
        let (c1, k1) = pem_pair(&["s.test"]);
        let (c2, k2) = pem_pair(&["s.test"]);
        let tls = TlsConfig::from_pem("s.test", &c1, &k1).expect("config");
        let handle = tls.clone();
        let before = end_entity(&tls.pick(Some("s.test"), &[]).expect("cert"));
        handle.set_host_pem("s.test", &c2, &k2).expect("replace");
        let after = end_entity(&tls.pick(Some("s.test"), &[]).expect("cert"));
        assert_ne!(before, after);
        assert_eq!(tls.names().len(), 1);
    }

    #[test]
    fn self_signed_covers_its_names() {
        let tls = TlsConfig::self_signed(&["localhost", "127.0.0.1"]).expect("generate");
        let key = tls.pick(None, &[]).expect("cert");
        assert_eq!(covers(&key, "localhost"), Some(true));
        assert_eq!(covers(&key, "127.0.0.1"), Some(true));
        assert_eq!(covers(&key, "example.com"), Some(false));
    }
}
