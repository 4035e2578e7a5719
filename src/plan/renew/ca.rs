//! What a rotation of the kubernetes CA (`pki rotate-ca --ca kubernetes`) moves beyond the
//! control planes' PKI files, each planned from the facts' `trust` section, the thing itself:
//! - the controller manager's signing CA ([`signer_before`], [`signer_after`], used by
//!   renew-rollout on each control plane): it takes one certificate, so while `ca.crt` is a
//!   bundle it signs from `ca-signer.crt`;
//! - phase `kubelet-trust`, every node one at a time: `/etc/kubernetes/pki/ca.crt` (kubelet's
//!   client CA) and kubelet.conf's CA data hold what the stage trusts, and in the leaves stage
//!   kubelet's client certificate comes from the new CA; kubelet restarts when any changed;
//! - phase `ca-published`, on the first control plane (for the front-proxy CA too, whose drop
//!   needs the same republishing): the system workloads restarted once
//!   `kube-root-ca.crt` holds what the stage trusts (so their service-account `ca.crt` does), the
//!   API server's published client CA cleared of the old one after the drop (it merges what it
//!   publishes with what is there), and `cluster-info`'s CA for joining nodes. Pure.

use crate::digest::sha256_hex;
use crate::facts::trust::{b64, cert_set, fingerprint, Trust, ANNOTATION, KCM_MANIFEST, SYSTEM_NAMESPACES};
use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::paths;
use crate::pki::rotate::{self, Stage, CA_CRT, CA_KEY, SIGNER_CRT, SIGNER_KEY};
use crate::plan::phases::kubeadm_config::first_control_plane;
use crate::plan::{Content, Context, HostSteps, Phase, PlanError, Step};

/// The host's `trust` facts (empty where the run did not gather them).
fn trust_of(hf: &HostFacts) -> &Trust {
    &hf.facts.state.trust
}

fn rotating(cx: &Context) -> bool {
    rotate::stage(&cx.pki, "ca") != Stage::None
}

/// Points the controller manager's signer at `to_crt`/`to_key`; kubelet starts it again with
/// its new manifest.
fn point_signer(to_crt: &str, to_key: &str) -> String {
    super::restart_with(
        "kube-controller-manager",
        &format!(
            "sed -i -e 's|--cluster-signing-cert-file=[^ \"]*|--cluster-signing-cert-file={to_crt}|' \
             -e 's|--cluster-signing-key-file=[^ \"]*|--cluster-signing-key-file={to_key}|' {KCM_MANIFEST}"
        ),
        "true",
    )
}

/// Before a control plane's PKI files change: while the kubernetes CA rotates with a bundle in
/// `ca.crt`, the signing CA alone goes to `ca-signer.{crt,key}` and the controller manager signs
/// from there (kubelet restarts it when its manifest changes).
pub fn signer_before(cx: &Context, hf: &HostFacts, hs: &mut HostSteps) -> Result<(), PlanError> {
    let t = trust_of(hf);
    if !rotate::bundling(&cx.pki) || t.signer.is_none() {
        return Ok(());
    }
    let f = &hf.facts;
    for (rel, path, mode) in [("ca.crt", SIGNER_CRT, 0o644), ("ca.key", SIGNER_KEY, 0o600)] {
        let text = cx.pki.get(rel).ok_or_else(|| {
            PlanError::new(
                format!("`{}/{rel}` is missing", cx.certs_dir.display()),
                "the rotation needs the PKI folder it started with",
            )
        })?;
        let content = if mode == 0o600 {
            Content::secret(text.clone())
        } else {
            Content::new(text.clone())
        };
        if f.state.files.get(path) != Some(&content.sha256) {
            hs.change(Step::write(&format!("pki-signer-{rel}"), path, mode, content));
        }
    }
    if t.signer.as_deref() != Some(SIGNER_CRT) {
        hs.change(
            Step::script(
                "kcm-signer",
                format!("the controller manager signs from {SIGNER_CRT} while ca.crt is a bundle (it takes one certificate)"),
                point_signer(SIGNER_CRT, SIGNER_KEY),
            )
            .with_hint(format!("its manifest is {KCM_MANIFEST}")),
        );
    }
    Ok(())
}

/// After a control plane's PKI files changed, outside the bundle stages: the controller manager
/// signs from `ca.crt` again and `ca-signer.*` goes. Returns whether the manifest changes.
pub fn signer_after(cx: &Context, hf: &HostFacts, hs: &mut HostSteps) -> bool {
    let t = trust_of(hf);
    if rotate::bundling(&cx.pki) || t.signer.is_none() {
        return false;
    }
    let mut moved = false;
    if t.signer.as_deref() != Some(CA_CRT) {
        hs.change(Step::script(
            "kcm-signer",
            format!("the controller manager signs from {CA_CRT} again"),
            point_signer(CA_CRT, CA_KEY),
        ));
        moved = true;
    }
    let f = &hf.facts;
    if f.state.files.contains_key(SIGNER_CRT) || f.state.files.contains_key(SIGNER_KEY) {
        hs.change(Step::script(
            "pki-signer-remove",
            format!("remove {SIGNER_CRT} and its key (the rotation is over)"),
            format!("rm -f {SIGNER_CRT} {SIGNER_KEY}"),
        ));
    }
    moved
}

pub struct KubeletTrust;

impl Phase for KubeletTrust {
    fn name(&self) -> &'static str {
        "kubelet-trust"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        rotating(cx) && host.is_node()
    }
    fn serial(&self) -> bool {
        true
    }
    fn reads_trust(&self) -> bool {
        true
    }
    fn plan(&self, cx: &Context, host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let t = trust_of(hf);
        let f = &hf.facts;
        let Some(conf_ca) = &t.kubelet_conf_ca else {
            hs.warn("no kubelet.conf here: not a node yet, nothing to move");
            return Ok(hs);
        };
        let wanted = rotate::cluster_trust(&cx.pki).ok_or_else(|| {
            PlanError::new(
                format!("`{}/ca.crt` is missing", cx.certs_dir.display()),
                "the rotation needs the PKI folder it started with",
            )
        })?;
        let want_set = cert_set(&wanted);
        let mut changed = false;
        // On control planes renew-rollout writes ca.crt with the other PKI files.
        let ca_path = format!("{}/ca.crt", paths::KUBE_PKI);
        if !host.has(crate::inventory::Role::ControlPlane) {
            let content = Content::new(wanted.clone());
            if f.state.files.get(&ca_path) != Some(&content.sha256) {
                hs.change(Step::write("pki-ca.crt", &ca_path, 0o644, content));
                changed = true;
            }
        }
        if conf_ca != &want_set {
            hs.change(Step::script(
                "kubelet-conf-ca",
                format!("kubelet.conf trusts {} CA(s): the stage's", want_set.len()),
                format!(
                    "sed -i 's|^\\( *certificate-authority-data:\\).*|\\1 {}|' {}",
                    b64(&wanted),
                    paths::KUBELET_CONF
                ),
            ));
            changed = true;
        } else {
            hs.unchanged("kubelet.conf", "trusts the stage's CAs");
        }
        if rotate::stage(&cx.pki, "ca") == Stage::Leaves {
            let signing = cx.pki.get("ca.crt").map(String::as_str).unwrap_or("");
            let current = t.kubelet_client.as_deref().unwrap_or("");
            if crate::pki::inspect::signed_by(current, signing) {
                hs.unchanged("kubelet client certificate", "signed by the new CA");
            } else {
                let rel = rotate::kubelet_client_rel(host.name.as_str());
                let pem = cx.pki.get(&rel).ok_or_else(|| {
                    PlanError::new(
                        format!("`{}/{rel}` is missing", cx.certs_dir.display()),
                        "run `groundup pki rotate-ca --ca kubernetes` again: it issues it",
                    )
                })?;
                let path = "/var/lib/kubelet/pki/kubelet-client-groundup.pem";
                hs.change(Step::write("kubelet-client", path, 0o600, Content::secret(pem.clone())));
                hs.change(Step::script(
                    "kubelet-client-link",
                    "kubelet's client certificate is the one from the new CA",
                    format!("ln -sfn {path} {}", crate::facts::state::KUBELET_CLIENT_CERT),
                ));
                changed = true;
            }
        }
        if changed {
            hs.change(
                Step::script(
                    "kubelet-restart",
                    "restart kubelet and wait until it is healthy",
                    "systemctl restart kubelet\nfor i in $(seq 60); do\n  \
                     if systemctl is-active -q kubelet && { ! command -v curl >/dev/null || \
                     curl -sf --max-time 2 http://127.0.0.1:10248/healthz >/dev/null 2>&1; }; then exit 0; fi\n  sleep 2\ndone\n\
                     echo 'kubelet is not healthy after 2 minutes (journalctl -u kubelet)' >&2; exit 1",
                )
                .with_hint("`journalctl -u kubelet` on this host"),
            );
        }
        Ok(hs)
    }
}

pub struct CaPublished;

impl Phase for CaPublished {
    fn name(&self) -> &'static str {
        "ca-published"
    }
    fn applies(&self, cx: &Context, host: &Host) -> bool {
        (rotating(cx) || rotate::stage(&cx.pki, "front-proxy-ca") != Stage::None)
            && first_control_plane(cx.inv).is_some_and(|f| f.name == host.name)
    }
    fn reads_trust(&self) -> bool {
        true
    }
    fn plan(&self, cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let mut hs = HostSteps::default();
        let Some(p) = &trust_of(hf).published else {
            return Err(PlanError::new(
                "the API did not answer what it publishes (kube-root-ca.crt, extension-apiserver-authentication, cluster-info)",
                "check the control plane (`groundup status`), then run the rotation again",
            ));
        };
        let wanted = rotate::cluster_trust(&cx.pki).unwrap_or_default();
        let want_set = cert_set(&wanted);
        let front = rotate::trusted(&cx.pki, "front-proxy-ca.crt").unwrap_or_default();
        let front_set = cert_set(&front);
        let k = format!("kubectl --kubeconfig={} --request-timeout=10s", paths::ADMIN_CONF);
        let stage = rotate::stage(&cx.pki, "ca");
        // An API server merges the CAs it publishes for aggregated API servers with what the
        // config map already holds: after a drop the old CA stays there until it is made again.
        let stale_client = stage == Stage::Drop && p.client_ca != want_set;
        let stale_front = rotate::stage(&cx.pki, "front-proxy-ca") == Stage::Drop && p.requestheader_ca != front_set;
        if stale_client || stale_front {
            let n = |key: &str| {
                format!(
                    "$({k} -n kube-system get configmap extension-apiserver-authentication -o jsonpath='{{.data.{key}}}' \
                     2>/dev/null | grep -c 'BEGIN CERTIFICATE' || true)"
                )
            };
            hs.change(Step::script(
                "client-ca-republish",
                "the API servers publish the new CA alone for aggregated API servers (extension-apiserver-authentication made again)",
                format!(
                    "{k} -n kube-system delete configmap extension-apiserver-authentication\n\
                     for i in $(seq 90); do\n  if [ \"{}\" = {} ] && [ \"{}\" = {} ]; then exit 0; fi\n  sleep 2\ndone\n\
                     echo 'the API servers did not publish extension-apiserver-authentication again within 3 minutes' >&2; exit 1",
                    n("client-ca-file"),
                    want_set.len(),
                    n("requestheader-client-ca-file"),
                    front_set.len()
                ),
            ));
        }
        if stage == Stage::None {
            return Ok(hs);
        }
        if stage == Stage::Drop && p.cluster_info_ca != want_set {
            hs.change(Step::script(
                "cluster-info-ca",
                "cluster-info (what joining nodes trust) carries the new CA",
                format!(
                    "t=$(mktemp)\ntrap 'rm -f \"$t\"' EXIT\n\
                     {k} -n kube-public get configmap cluster-info -o jsonpath='{{.data.kubeconfig}}' \
                     | sed 's|^\\( *certificate-authority-data:\\).*|\\1 {}|' >\"$t\"\n\
                     {k} -n kube-public create configmap cluster-info --from-file=kubeconfig=\"$t\" --dry-run=client -o yaml \
                     | {k} replace -f -",
                    b64(&wanted)
                ),
            ));
        }
        // Workloads read their service-account ca.crt when they start: restart them once
        // kube-root-ca.crt holds the stage's CAs.
        let print = fingerprint(&want_set);
        let stale: Vec<_> = p
            .workloads
            .iter()
            .filter(|(w, a)| SYSTEM_NAMESPACES.contains(&w.namespace.as_str()) && **a != print)
            .map(|(w, _)| w)
            .collect();
        if stale.is_empty() {
            hs.unchanged("system workloads", "started trusting the stage's CAs");
        } else {
            // Its bytes are the controller manager's --root-ca-file, the control planes' ca.crt.
            let mut s = format!(
                "ok=0\nfor i in $(seq 90); do\n  if [ \"$({k} -n kube-system get configmap kube-root-ca.crt \
                 -o jsonpath='{{.data.ca\\.crt}}' | sha256sum | cut -c1-64)\" = {} ]; then ok=1; break; fi\n  sleep 2\ndone\n\
                 if [ $ok = 0 ]; then echo 'kube-root-ca.crt does not hold the CAs of ca.crt after 3 minutes \
                 (the controller manager publishes its --root-ca-file)' >&2; exit 1; fi\n",
                sha256_hex(wanted.as_bytes())
            );
            let patch = format!(
                "{{\"spec\":{{\"template\":{{\"metadata\":{{\"annotations\":{{\"{ANNOTATION}\":\"{print}\"}}}}}}}}}}"
            );
            for w in &stale {
                s.push_str(&format!(
                    "{k} -n {ns} patch {r} --type merge -p '{patch}'\n",
                    ns = w.namespace,
                    r = w.resource()
                ));
            }
            for w in &stale {
                s.push_str(&format!(
                    "{k} -n {ns} rollout status {r} --timeout=300s\n",
                    ns = w.namespace,
                    r = w.resource()
                ));
            }
            hs.change(
                Step::script(
                    "workloads-restart",
                    format!(
                        "restart {} system workload(s) once kube-root-ca.crt holds the stage's CAs, and wait for their rollout",
                        stale.len()
                    ),
                    s,
                )
                .with_hint("`kubectl -n kube-system get pods`: a pod that does not start names why"),
            );
        }
        let others = p
            .workloads
            .keys()
            .filter(|w| !SYSTEM_NAMESPACES.contains(&w.namespace.as_str()))
            .count();
        if others > 0 {
            hs.warn(format!(
                "{others} workload(s) outside kube-system and kube-flannel read their service-account ca.crt when they start: \
                 restart them before the new CA signs the API server's certificate (the next stage)"
            ));
        }
        Ok(hs)
    }
}
