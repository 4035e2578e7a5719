//! The end-to-end test's CA rotations (called from its lifecycle, after `pki renew`): the
//! kubernetes, front-proxy and stacked etcd CAs one after the other, each checked on the live
//! cluster: the hosts hold the new CA alone and its leaves verify, the old CA is kept, what the
//! API publishes holds the new CA alone, and for the kubernetes CA kubelet's client certificate
//! verifies, `kubectl logs` reaches a kubelet and a user's CSR is signed by the new CA.

use std::path::Path;

use crate::e2e::{healthy, kubectl, timed};

/// Issue 12's `pki rotate-ca` on the real cluster (stacked etcd), each CA in its three rollouts;
/// afterwards the hosts hold the new CA alone, the leaves are its own, the old CA is kept in
/// `retired/`, the cluster is healthy, and `pki status` finds nothing wrong.
pub(crate) fn rotate_cas(d: &Path, inv: &Path, certs: &Path) {
    let c = certs.to_str().unwrap();
    for (ca, file, leaf) in [
        ("kubernetes", "ca.crt", "apiserver.crt"),
        ("front-proxy", "front-proxy-ca.crt", "front-proxy-client.crt"),
        ("etcd", "etcd/ca.crt", "etcd/server.crt"),
    ] {
        let old = std::fs::read_to_string(certs.join(file)).unwrap();
        let (code, v) = timed(
            d,
            inv,
            &format!("pki rotate-ca --ca {ca}"),
            &["pki", "rotate-ca", "--ca", ca, "--yes", "--certs-dir", c],
        );
        assert_eq!(code, 0, "{v:#}");
        let new = std::fs::read_to_string(certs.join(file)).unwrap();
        assert_ne!(new, old, "a new {ca} CA");
        assert_eq!(
            kubectl(d, inv, &format!("cat /etc/kubernetes/pki/{file}")),
            new,
            "lab-16 trusts the new {ca} CA alone"
        );
        let verify = kubectl(
            d,
            inv,
            &format!("openssl verify -CAfile /etc/kubernetes/pki/{file} /etc/kubernetes/pki/{leaf}"),
        );
        assert!(verify.trim_end().ends_with("OK"), "{verify}");
        let retired = std::fs::read_dir(certs.join("retired"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .any(|t| t == old);
        assert!(retired, "the old {ca} CA is kept");
        // What the API publishes holds the new CA alone (the API server merges what it
        // publishes with what was there: the rotation makes it again).
        let one = |what: &str| {
            format!("[ \"$({what} | grep -c 'BEGIN CERTIFICATE')\" = 1 ] && cmp <({what} | openssl x509) <(openssl x509 -in /etc/kubernetes/pki/{file})")
        };
        let published: Vec<String> = match ca {
            "kubernetes" => [
                "kubectl -n kube-system get cm extension-apiserver-authentication -o jsonpath='{.data.client-ca-file}'",
                "kubectl -n kube-system get cm kube-root-ca.crt -o jsonpath='{.data.ca\\.crt}'",
                "kubectl -n kube-public get cm cluster-info -o jsonpath='{.data.kubeconfig}' | sed -n 's/.*certificate-authority-data: //p' | base64 -d",
            ]
            .iter()
            .map(|w| one(w))
            .chain(["openssl verify -CAfile /etc/kubernetes/pki/ca.crt /var/lib/kubelet/pki/kubelet-client-current.pem".into()])
            .collect(),
            "front-proxy" => vec![one(
                "kubectl -n kube-system get cm extension-apiserver-authentication -o jsonpath='{.data.requestheader-client-ca-file}'",
            )],
            _ => vec![],
        };
        for check in &published {
            kubectl(d, inv, check);
        }
        if ca == "kubernetes" {
            // The API server reaches kubelets with its client certificate of the new CA, and the
            // controller manager signs with the new CA.
            kubectl(d, inv, "kubectl -n kube-system logs ds/kube-proxy --tail=1 >/dev/null");
            csr_signed_by_the_new_ca(d, inv);
        }
        healthy(d, inv, 4);
        let (code, v) = timed(
            d,
            inv,
            &format!("pki status after rotating {ca}"),
            &["pki", "status", "--certs-dir", c],
        );
        assert_eq!(code, 0, "{v:#}");
    }
}

/// A certificate signing request of a user, approved: the controller manager signs it with the
/// new kubernetes CA.
fn csr_signed_by_the_new_ca(d: &Path, inv: &Path) {
    kubectl(
        d,
        inv,
        r#"cd "$(mktemp -d)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout k -subj /CN=e2e -out r 2>/dev/null
kubectl apply -f - >/dev/null <<END
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: e2e-after-rotation}
spec: {request: $(base64 -w0 r), signerName: kubernetes.io/kube-apiserver-client, usages: [client auth]}
END
kubectl certificate approve e2e-after-rotation >/dev/null
for i in $(seq 30); do kubectl get csr e2e-after-rotation -o jsonpath='{.status.certificate}' | base64 -d > c; [ -s c ] && break; sleep 1; done
openssl verify -CAfile /etc/kubernetes/pki/ca.crt c
kubectl delete csr e2e-after-rotation >/dev/null"#,
    );
}
