//! A cluster's handout page (issue 13): what a student needs on one page, beside the kubeconfig
//! `kubeconfig --out-dir` writes: the cluster, its API, its nodes and their addresses, and the
//! first commands. Markdown; the HTML page is the same text rendered.

use crate::inventory::{Host, Inventory, Role};

/// `kubeconfig` is the file name beside the page; `server` the API address the kubeconfig uses.
pub fn markdown(inv: &Inventory, kubeconfig: &str, server: &str, context: &str) -> String {
    let c = &inv.cluster;
    let mut s = format!(
        "# Cluster `{}`\n\nKubernetes v{}, API at `{server}`, pod network `{}`, services `{}`.\n\n\
         | node | role | SSH | internal address |\n|---|---|---|---|\n",
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
            "| {} | {} | `{}` | {} |\n",
            h.name,
            roles.join(", "),
            ssh(h, ""),
            internal
        ));
    }
    let test_image = crate::plan::phases::pod_network::FLANNEL_IMAGE;
    s.push_str(&format!(
        "\n## First steps\n\n```sh\nexport KUBECONFIG=$PWD/{kubeconfig}   # context `{context}`\n\
         kubectl get nodes -o wide\nkubectl get pods -A\n\
         kubectl create deployment hello --image={test_image} --replicas=2 -- sleep infinity\n\
         kubectl get pods -o wide -l app=hello\n```\n\n\
         `{test_image}` is already on every node (flannel runs it), so this works without a registry.\n\
         The kubeconfig holds the cluster's admin credentials: keep it private (it is written 0600).\n"
    ));
    if let Some(cp) = inv.with_role(Role::ControlPlane).next() {
        s.push_str(&format!(
            "\n## When `{server}` cannot be reached from your machine\n\n\
             VMs on a private network or behind a bastion: carry the API over SSH to the first control \
             plane, and point kubectl at the tunnel (the API server's certificate holds the name \
             `kubernetes`).\n\n```sh\n{} &\n\
             kubectl --server https://127.0.0.1:16443 --tls-server-name kubernetes get nodes\n```\n",
            ssh(cp, "-N -L 16443:127.0.0.1:6443 ")
        ));
    }
    s
}

/// The `ssh` command line a student can paste: port and jump host when the inventory has them.
fn ssh(h: &Host, options: &str) -> String {
    let s = &h.ssh;
    let port = if s.port == 22 {
        String::new()
    } else {
        format!("-p {} ", s.port)
    };
    let jump = s.jump_host.as_ref().map(|j| format!("-J {j} ")).unwrap_or_default();
    format!("ssh {port}{jump}{options}{}@{}", s.user, s.address)
}
