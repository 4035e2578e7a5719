//! A real TLS handshake with rustls: a server holding the apiserver certificate and requiring a
//! client certificate from the cluster CA, a client presenting admin.conf's certificate and
//! verifying the name `kubernetes.default.svc`. The same with a name the certificate lacks fails,
//! and so does a client certificate from another CA.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use groundup::inventory::Inventory;
use groundup::pki::generate::{generate, RENEW_BEFORE};
use groundup::pki::store::{kubeconfig_field, Store};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use time::OffsetDateTime;

use crate::common::root;

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// Runs one handshake; returns the client's error, if any.
fn handshake(pki: &Path, name: &str, client_cert: &str, client_key: &str) -> Result<(), String> {
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs(&read("ca.crt")).remove(0)).unwrap();
    let roots = Arc::new(roots);
    let verifier = rustls::server::WebPkiClientVerifier::builder(roots.clone())
        .build()
        .unwrap();
    let server = Arc::new(
        rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                certs(&read("nodes/cp-1/pki/apiserver.crt")),
                key(&read("nodes/cp-1/pki/apiserver.key")),
            )
            .unwrap(),
    );
    let client = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs(client_cert), key(client_key))
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut conn = rustls::ServerConnection::new(server).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut buf = [0u8; 4];
        match tls.read_exact(&mut buf) {
            Ok(()) => tls.write_all(b"pong").map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    });
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    let mut conn = rustls::ClientConnection::new(client, ServerName::try_from(name.to_string()).unwrap()).unwrap();
    let result = {
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        tls.write_all(b"ping").and_then(|()| {
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).map(|()| buf)
        })
    };
    drop(sock);
    let server_side = srv.join().unwrap();
    match result {
        Ok(buf) if &buf == b"pong" && server_side.is_ok() => Ok(()),
        Ok(_) => Err(format!("server side: {server_side:?}")),
        Err(e) => Err(format!("{e} (server side: {server_side:?})")),
    }
}

#[test]
fn the_apiserver_certificate_serves_tls_to_an_admin_client() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let inv = Inventory::load(&root().join("inventory/ha.toml")).unwrap();
    generate(&inv, &Store::new(&pki), RENEW_BEFORE, OffsetDateTime::now_utc()).unwrap();
    let admin = std::fs::read_to_string(pki.join("nodes/cp-1/admin.conf")).unwrap();
    let (cert, k) = (
        kubeconfig_field(&admin, "client-certificate-data:").unwrap(),
        kubeconfig_field(&admin, "client-key-data:").unwrap(),
    );

    handshake(&pki, "kubernetes.default.svc", &cert, &k).unwrap();
    handshake(&pki, "k8s-api.example.internal", &cert, &k).unwrap();
    let err = handshake(&pki, "kubernetes.default.svc.wrong.example", &cert, &k).unwrap_err();
    assert!(
        err.contains("NotValidForName") || err.to_lowercase().contains("not valid for name"),
        "{err}"
    );

    // a client certificate from the etcd CA is not trusted by the API server's client-CA
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let err = handshake(
        &pki,
        "kubernetes.default.svc",
        &read("nodes/cp-1/pki/apiserver-etcd-client.crt"),
        &read("nodes/cp-1/pki/apiserver-etcd-client.key"),
    )
    .unwrap_err();
    assert!(
        err.contains("UnknownIssuer") || err.to_lowercase().contains("unknown"),
        "{err}"
    );
}
