//! `network-cleanup`: what kube-proxy, flannel and the CNI plugins leave in the kernel and
//! `kubeadm reset` is documented not to remove: the `cni0`/`flannel.1`/`kube-ipvs0` links, the
//! `KUBE-*`, `FLANNEL*` and `CNI-*` iptables chains (and every rule that jumps to them) per table,
//! kube-proxy's and flannel's nftables tables, and IPVS services. Each from its own presence.

use std::collections::BTreeMap;

use crate::facts::leftovers::CHAIN_PREFIXES;
use crate::facts::HostFacts;
use crate::inventory::Host;
use crate::plan::{Context, HostSteps, Phase, PlanError, Step};

pub struct NetworkCleanup;

impl Phase for NetworkCleanup {
    fn reads_leftovers(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "network-cleanup"
    }

    fn applies(&self, cx: &Context, host: &Host) -> bool {
        cx.reset.resets(host)
    }

    fn plan(&self, _cx: &Context, _host: &Host, hf: &HostFacts) -> Result<HostSteps, PlanError> {
        let l = &hf.facts.state.leftovers;
        let mut hs = HostSteps::default();
        for link in &l.links {
            hs.change(Step::script(
                &format!("link-{link}"),
                format!("delete the link {link}"),
                format!("ip link delete {link}"),
            ));
        }
        let mut tables: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for (cmd, table, chain) in &l.chains {
            tables.entry((cmd, table)).or_default().push(chain);
        }
        let pattern = CHAIN_PREFIXES.join("|");
        for ((cmd, table), chains) in tables {
            // The table is saved, every line naming one of these chains (their declarations, their
            // rules and the rules jumping to them) dropped, and the rest restored as it was.
            hs.change(
                Step::script(
                    &format!("{cmd}-{table}"),
                    format!(
                        "remove {} chain(s) from {cmd} table {table} ({}{})",
                        chains.len(),
                        chains.iter().take(3).copied().collect::<Vec<_>>().join(", "),
                        if chains.len() > 3 { ", …" } else { "" }
                    ),
                    format!("{cmd}-save -t {table} | grep -vE '{pattern}' | {cmd}-restore"),
                )
                .with_hint(format!("`{cmd}-save -t {table}` shows the table")),
            );
        }
        for (family, table) in &l.nft_tables {
            hs.change(Step::script(
                &format!("nft-{family}-{table}"),
                format!("delete the nftables table {family} {table}"),
                format!("nft delete table {family} {table}"),
            ));
        }
        if l.ipvs > 0 {
            hs.change(Step::script(
                "ipvs-clear",
                format!("clear {} IPVS virtual service(s)", l.ipvs),
                "ipvsadm --clear",
            ));
        }
        if hs.items.is_empty() {
            hs.unchanged(
                "links, chains, nftables tables, IPVS",
                "none of kube-proxy's, flannel's or the CNI's left",
            );
        }
        Ok(hs)
    }
}
