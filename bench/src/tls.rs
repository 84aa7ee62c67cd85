//! An optional TLS front for the local DynamoDB (`--dynamo-tls`), so that the functions' first
//! DynamoDB call does a real TLS handshake (with aws-lc, like on Lambda) instead of plain HTTP.
//!
//! A throwaway CA and a certificate for 127.0.0.1 are made at start; the functions trust the CA
//! through `AWS_CA_BUNDLE`, which `shared::runtime::tls` adds to the compiled-in Amazon roots (so a
//! working run also shows that path works, and that nothing else is needed at init).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub struct TlsFront {
    /// `https://127.0.0.1:<port>`
    pub endpoint: String,
    /// The CA's PEM, to pass as `AWS_CA_BUNDLE`.
    pub ca_file: PathBuf,
    /// Every DynamoDB request that went through, by operation.
    pub requests: Arc<Requests>,
    task: JoinHandle<()>,
}

/// DynamoDB requests seen by the front, by operation (`X-Amz-Target`'s
/// `DynamoDB_20120810.<Operation>`). The harness invokes one function at a time, so the
/// difference around one invocation is that invocation's.
#[derive(Default)]
pub struct Requests(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

impl Requests {
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, operation: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(operation.to_string())
            .or_default() += 1;
    }
}

/// Finds the `X-Amz-Target` header lines in an HTTP/1.1 request stream, across reads. Lines
/// longer than any header line of interest (request bodies: JSON, no raw newlines) are
/// skipped, so the scan's memory stays bounded.
#[derive(Default)]
struct TargetScanner {
    line: Vec<u8>,
    overflow: bool,
}

const MAX_LINE: usize = 128;
const TARGET_HEADER: &[u8] = b"x-amz-target:";
const DYNAMODB_PREFIX: &str = "DynamoDB_20120810.";

impl TargetScanner {
    /// Feeds `bytes`; calls `found` with each operation named.
    fn feed(&mut self, bytes: &[u8], mut found: impl FnMut(&str)) {
        for &b in bytes {
            if b == b'\n' {
                if !self.overflow {
                    if let Some(op) = Self::operation(&self.line) {
                        found(op);
                    }
                }
                self.line.clear();
                self.overflow = false;
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            } else {
                self.overflow = true;
            }
        }
    }

    fn operation(line: &[u8]) -> Option<&str> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() < TARGET_HEADER.len()
            || !line[..TARGET_HEADER.len()].eq_ignore_ascii_case(TARGET_HEADER)
        {
            return None;
        }
        let value = std::str::from_utf8(&line[TARGET_HEADER.len()..])
            .ok()?
            .trim();
        value.strip_prefix(DYNAMODB_PREFIX)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Terminates TLS on 127.0.0.1 (any port) and forwards the bytes to `upstream`.
pub async fn start(upstream: SocketAddr, dir: &Path) -> Result<TlsFront, String> {
    let err = |e: rcgen::Error| format!("cannot make the test certificate: {e}");
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "bench local CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let leaf_key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(err)?;

    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ca_file = dir.join("bench-ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).map_err(|e| format!("{}: {e}", ca_file.display()))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(leaf_cert.der().to_vec()),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|e| format!("TLS server config: {e}"))?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the TLS front: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let requests = Arc::new(Requests::default());
    let counted = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let counted = counted.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(plain) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = plain.set_nodelay(true);
                let (mut tls_in, mut tls_out) = tokio::io::split(tls);
                let (mut plain_in, mut plain_out) = plain.into_split();
                let answers = tokio::io::copy(&mut plain_in, &mut tls_out);
                let asks = async {
                    let mut scanner = TargetScanner::default();
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match tls_in.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        scanner.feed(&buf[..n], |op| counted.count(op));
                        if plain_out.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = plain_out.shutdown().await;
                };
                let _ = tokio::join!(asks, answers);
            });
        }
    });
    Ok(TlsFront {
        endpoint: format!("https://{addr}"),
        ca_file,
        requests,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<String> {
        let mut scanner = TargetScanner::default();
        let mut ops = Vec::new();
        for chunk in chunks {
            scanner.feed(chunk, |op| ops.push(op.to_string()));
        }
        ops
    }

    #[test]
    fn counts_each_requests_operation_across_reads_and_ignores_bodies() {
        let get = b"POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: DynamoDB_20120810.GetItem\r\ncontent-length: 2\r\n\r\n{}";
        let tx = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.TransactWriteItems\r\n\r\n";
        assert_eq!(scan(&[get, tx]), ["GetItem", "TransactWriteItems"]);
        // Split anywhere, even inside the header line.
        let whole = [&get[..], &tx[..]].concat();
        for at in 0..whole.len() {
            assert_eq!(
                scan(&[&whole[..at], &whole[at..]]),
                ["GetItem", "TransactWriteItems"],
                "split at {at}"
            );
        }
        // A long body line that mentions the header is not a header.
        let mut body = vec![b'a'; 500];
        body.extend_from_slice(b"x-amz-target: DynamoDB_20120810.Scan\n");
        assert!(scan(&[b"\n", &body]).is_empty());
        assert!(scan(&[b"x-amz-target: Other.Thing\r\n"]).is_empty());
    }
}
