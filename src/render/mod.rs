//! Rendering the files groundup writes on hosts from `templates/` (compiled in) with typed
//! contexts. Pure: text in, text out.

use minijinja::Environment;
use serde::Serialize;

/// Every template, by its file name under `templates/`.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("kubeconfig.yaml", include_str!("../../templates/kubeconfig.yaml")),
    ("haproxy.cfg", include_str!("../../templates/haproxy.cfg")),
    ("kube-vip.yaml", include_str!("../../templates/kube-vip.yaml")),
    ("modules-load.conf", include_str!("../../templates/modules-load.conf")),
    (
        "sysctl-kubernetes.conf",
        include_str!("../../templates/sysctl-kubernetes.conf"),
    ),
    (
        "containerd-config-v2.toml",
        include_str!("../../templates/containerd-config-v2.toml"),
    ),
    (
        "containerd-config-v3.toml",
        include_str!("../../templates/containerd-config-v3.toml"),
    ),
    (
        "containerd-hosts.toml",
        include_str!("../../templates/containerd-hosts.toml"),
    ),
    ("crictl.yaml", include_str!("../../templates/crictl.yaml")),
    (
        "apt-kubernetes.list",
        include_str!("../../templates/apt-kubernetes.list"),
    ),
    ("apt-docker.list", include_str!("../../templates/apt-docker.list")),
    (
        "dnf-kubernetes.repo",
        include_str!("../../templates/dnf-kubernetes.repo"),
    ),
    ("dnf-docker.repo", include_str!("../../templates/dnf-docker.repo")),
    ("apt-proxy.conf", include_str!("../../templates/apt-proxy.conf")),
    ("proxy.env", include_str!("../../templates/proxy.env")),
    (
        "containerd-proxy.conf",
        include_str!("../../templates/containerd-proxy.conf"),
    ),
    ("etcd.service", include_str!("../../templates/etcd.service")),
    ("kubeadm-init.yaml", include_str!("../../templates/kubeadm-init.yaml")),
    ("kubeadm-join.yaml", include_str!("../../templates/kubeadm-join.yaml")),
    ("kube-flannel.yml", include_str!("../../templates/kube-flannel.yml")),
    ("encryption.yaml", include_str!("../../templates/encryption.yaml")),
    ("audit-policy.yaml", include_str!("../../templates/audit-policy.yaml")),
];

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // These are config files, not HTML: nothing is escaped by file extension.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    for (name, body) in TEMPLATES {
        env.add_template(name, body).expect("templates/ parse (tested)");
    }
    env
}

/// Renders `template` with `ctx`; a missing variable is an error, never an empty string.
pub fn render(template: &str, ctx: impl Serialize) -> Result<String, minijinja::Error> {
    env().get_template(template)?.render(ctx)
}

/// A kubeconfig with embedded CA, client certificate and key (base64 of the PEMs), as kubeadm writes.
#[derive(Debug, Serialize)]
pub struct Kubeconfig<'a> {
    pub cluster: &'a str,
    pub server: &'a str,
    pub user: &'a str,
    pub ca_data: String,
    pub cert_data: String,
    pub key_data: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        let env = super::env();
        assert_eq!(env.templates().count(), super::TEMPLATES.len());
    }
}
