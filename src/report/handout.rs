//! A cluster's handout page (issue 13): what a student needs on one page, beside the kubeconfig
//! `kubeconfig --out-dir` writes: the cluster, its API, its nodes and their addresses, and the
//! first commands. Markdown; the HTML page is the same text rendered.

use crate::inventory::{Inventory, Role};

/// `kubeconfig` is the file name beside the page; `server` the API address the kubeconfig uses.
pub fn markdown(inv: &Inventory, kubeconfig: &str, server: &str, context: &str) -> String {
    let c = &inv.cluster;
    let mut s = format!(
        "# Cluster `{}`\n\nKubernetes v{}, API at `{server}`, pod network `{}`, services `{}`.\n\n\
         | node | role | address (SSH) | internal address |\n|---|---|---|---|\n",
        c.name, c.kubernetes_version, c.pod_subnet, c.service_subnet
    );
    for h in &inv.hosts {
        let roles: Vec<&str> = Role::ALL.iter().filter(|r| h.has(**r)).map(|r| r.as_str()).collect();
        let internal = h
            .internal_address
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "| {} | {} | `{}@{}` | {} |\n",
            h.name,
            roles.join(", "),
            h.ssh.user,
            h.ssh.address,
            internal
        ));
    }
    s.push_str(&format!(
        "\n## First steps\n\n```sh\nexport KUBECONFIG=$PWD/{kubeconfig}   # context `{context}`\n\
         kubectl get nodes -o wide\nkubectl get pods -A\n\
         kubectl create deployment hello --image=registry.k8s.io/pause:3.10.1 --replicas=2\n\
         kubectl get pods -o wide -l app=hello\n```\n\n\
         The kubeconfig holds the cluster's admin credentials: keep it private (it is written 0600).\n"
    ));
    s
}
