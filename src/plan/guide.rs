//! `explain`: the plan `apply` runs, rendered as a guide a student can follow. Per phase a short
//! "why" (what Kubernetes needs and what breaks without it), then per host (hosts with the same
//! steps together) what is already in place and the exact commands and files, in order. Secret
//! files are named, never shown. Pure: plans in, Markdown out.

use std::fmt::Write;

use super::{Action, HostResult, Item, PhasePlan};
use crate::inventory::Inventory;

/// Why each phase of `apply` exists: (heading, why). A test keeps it complete.
pub const WHY: &[(&str, &str, &str)] = &[
    ("preflight", "Check every host before changing anything",
     "kubeadm refuses hosts with swap on, too little memory, ports in use or clocks apart; finding that on the last host after the first is half-built leaves a mess. Every host is checked first, and nothing changes unless all pass."),
    ("proxy", "Proxy settings, where hosts reach the internet through one",
     "Package managers and containerd download through the proxy, while traffic inside the cluster (node and pod addresses, services) must never go there: that is what NO_PROXY lists."),
    ("prepare-os", "Prepare the operating system",
     "kubelet will not run with swap on; pods reach each other through a Linux bridge, so the kernel must forward packets and let iptables see bridged traffic (`br_netfilter`, `ip_forward`); containerd's image layers need `overlay`; TLS needs clocks in sync."),
    ("runtime-packages", "Install the container runtime",
     "Kubernetes does not run containers itself: kubelet asks a CRI runtime, here containerd, to pull images and start them."),
    ("container-runtime", "Configure containerd",
     "kubelet and containerd must agree on the cgroup driver (systemd), or pods are killed at random; containerd's CRI plugin is where the sandbox (pause) image and registry mirrors are set."),
    ("images", "Load the container images",
     "Without registry access, every image kubeadm, flannel and the add-ons need must already be in containerd's `k8s.io` namespace, the one kubelet uses."),
    ("kube-packages", "Install kubelet, kubeadm and kubectl",
     "kubelet is the agent on every node, kubeadm builds the control plane and joins nodes, kubectl talks to the API. They are held at one version: an unplanned upgrade of one node breaks the version skew rules."),
    ("sandbox-image", "Use the pause image this kubeadm expects",
     "Every pod starts with a tiny `pause` container holding its network namespace. containerd must use the same pause image kubeadm pins, or offline nodes cannot start any pod."),
    ("helm", "Install helm",
     "helm installs packaged applications (charts) into the cluster once it runs."),
    ("pki-files", "Place the cluster's certificates",
     "Every component proves who it is with a certificate signed by the cluster's CA: the API server to clients, kubelets to the API server, etcd members to each other. groundup made them all here beforehand; kubeadm finds them in place and uses them instead of making its own."),
    ("etcd", "Start the external etcd cluster",
     "etcd is the cluster's database: every object the API server stores lives there. With external etcd it runs on its own hosts, talking TLS with client certificates only."),
    ("kubeadm-config", "Write each node's kubeadm configuration",
     "kubeadm reads one file that says which version to run, the API endpoint, the pod and service networks, the certificates' SANs and how to join; writing it down makes each node's setup reviewable and repeatable."),
    ("api-endpoint", "Give the API one address",
     "With several control planes, clients and kubelets need one address that keeps working when a control plane is down: a floating IP (kube-vip) or a local load balancer on every node (haproxy)."),
    ("control-plane-init", "Start the control plane (`kubeadm init`)",
     "The first control plane gets the static pods for etcd, the API server, the controller manager and the scheduler, which kubelet starts from files; then the API is configured (RBAC, kube-proxy, CoreDNS, the bootstrap token)."),
    ("pod-network", "Install the pod network (flannel)",
     "Kubernetes gives every pod an IP but does not connect pods on different nodes; a CNI plugin does. Until it runs, nodes stay NotReady and CoreDNS stays Pending."),
    ("join-token", "Keep a valid join token",
     "Nodes prove they may join with a bootstrap token, which expires after 24 hours; a node added later needs it renewed."),
    ("control-plane-join", "Join the other control planes, one at a time",
     "Each new control plane adds an etcd member; adding two at once can cost etcd its quorum, so they join in turn."),
    ("kube-vip", "kube-vip on every control plane",
     "The floating API address moves to whichever control plane is alive; each one runs kube-vip for that."),
    ("workers-join", "Join the workers (`kubeadm join`)",
     "A worker's kubelet gets its own client certificate through the bootstrap token (TLS bootstrap) and registers its Node; from then on pods can run there."),
    ("addons", "Namespaces and helm releases",
     "What the cluster is for: namespaces and applications, installed once every node is Ready."),
];

/// The guide for `plans` (the phases of `apply`, planned from the hosts' facts).
pub fn markdown(inv: &Inventory, plans: &[PhasePlan]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Building the cluster `{}` from the ground up\n",
        inv.cluster.name
    );
    let _ = writeln!(
        out,
        "Kubernetes {} on {} hosts, with kubeadm, containerd and flannel. Every command below is \
         exactly what `groundup apply -i {}` runs, as root, on the host named above it; files are \
         written atomically. Steps already done on a host are listed as such.\n",
        inv.cluster.kubernetes_version,
        inv.hosts.len(),
        inv.path.display()
    );
    let _ = writeln!(out, "| host | address | roles |\n|---|---|---|");
    for h in &inv.hosts {
        let roles: Vec<&str> = h.roles.iter().map(|r| r.as_str()).collect();
        let _ = writeln!(out, "| {} | {} | {} |", h.name, h.ssh.address, roles.join(", "));
    }
    for (n, p) in plans.iter().enumerate() {
        let (title, why) = WHY
            .iter()
            .find(|(name, _, _)| *name == p.phase)
            .map(|(_, t, w)| (*t, *w))
            .unwrap_or((p.phase, ""));
        let _ = writeln!(out, "\n## {}. {title} (`{}`)\n", n + 1, p.phase);
        if !why.is_empty() {
            let _ = writeln!(out, "*Why:* {why}\n");
        }
        if p.hosts.is_empty() {
            let _ = writeln!(out, "No host takes part in this phase in this cluster.");
            continue;
        }
        let mut groups: Vec<(Vec<&str>, String)> = Vec::new();
        for h in &p.hosts {
            let block = host_block(&h.result);
            match groups.iter_mut().find(|(_, b)| *b == block) {
                Some((names, _)) => names.push(&h.host),
                None => groups.push((vec![&h.host], block)),
            }
        }
        for (names, block) in groups {
            let _ = writeln!(out, "### On {}\n\n{block}", names.join(", "));
        }
    }
    out
}

fn host_block(r: &HostResult) -> String {
    let mut out = String::new();
    let s = match r {
        HostResult::Error { error } => {
            let _ = writeln!(
                out,
                "**Cannot go on here:** {}\n\n*What to do:* {}\n",
                error.message, error.hint
            );
            return out;
        }
        HostResult::Planned(s) => s,
    };
    for w in &s.warnings {
        let _ = writeln!(out, "> Note: {w}\n");
    }
    let done: Vec<String> = s
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Unchanged { what, why } => Some(format!("- {what}: {why}")),
            Item::Change(_) => None,
        })
        .collect();
    if !done.is_empty() {
        let _ = writeln!(out, "Already in place:\n\n{}\n", done.join("\n"));
    }
    let mut n = 0;
    for i in &s.items {
        let Item::Change(st) = i else { continue };
        n += 1;
        let _ = writeln!(out, "{n}. {}\n", st.title);
        match &st.action {
            Action::Script { script } => {
                let _ = writeln!(out, "   ```sh\n{}   ```\n", indent(script));
            }
            Action::Write { path, mode, content } if content.secret => {
                let _ = writeln!(
                    out,
                    "   `{path}`, mode {mode:04o}: it holds a secret, so its content is not shown here.\n"
                );
            }
            Action::Write { path, mode, content } => {
                let _ = writeln!(
                    out,
                    "   `{path}`, mode {mode:04o}:\n\n   ```\n{}   ```\n",
                    indent(&content.text)
                );
            }
            Action::Upload {
                path, local, sha256, ..
            } => {
                let _ = writeln!(
                    out,
                    "   `{}` copied to `{path}` and checked (sha256 `{}…`).\n",
                    local.file_name().and_then(|f| f.to_str()).unwrap_or(""),
                    &sha256[..12]
                );
            }
        }
        if let Some(h) = &st.hint {
            let _ = writeln!(out, "   If it fails: {h}\n");
        }
    }
    if n == 0 && done.is_empty() {
        let _ = writeln!(out, "Nothing to do.\n");
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}

/// The guide as one HTML page (the Markdown rendered, with a little CSS for reading).
pub fn html(title: &str, markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    let title = title.replace('&', "&amp;").replace('<', "&lt;");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\
         body{{max-width:60rem;margin:2rem auto;font-family:sans-serif;line-height:1.5;padding:0 1rem}}\
         pre{{background:#f4f4f4;padding:.6rem;overflow-x:auto}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.2rem .6rem}}</style></head><body>\n{body}</body></html>\n"
    )
}
