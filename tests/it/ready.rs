//! "Done means checked": the read-only probe of the first control plane is parsed (kubectl JSON
//! fixtures), the verdict names what is missing, and the wait asks again until the cluster is up
//! or the time is over — through a scripted transport (real kubectl cannot run here).

use std::sync::Mutex;
use std::time::Duration;

use groundup::engine::ready::{missing, parse, table, wait, PROBE};
use groundup::exec::{ExecError, Output, Payload, Request, Transport};
use groundup::inventory::{Host, Inventory};

use crate::common::{fixture, inventory};

fn cluster() -> Inventory {
    inventory(
        "[cluster]\nname = \"r\"\nkubernetes_version = \"1.36.3\"\n\
         [[hosts]]\nname = \"cp-1\"\naddress = \"10.0.0.11\"\nroles = [\"control-plane\", \"etcd\"]\n\
         [[hosts]]\nname = \"worker-1\"\naddress = \"10.0.0.21\"\nroles = [\"worker\"]\n\
         [[hosts]]\nname = \"worker-2\"\naddress = \"10.0.0.22\"\nroles = [\"worker\"]\n",
    )
}

#[test]
fn the_probe_reads_nodes_and_pods_and_names_what_is_missing() {
    let inv = cluster();
    let up = parse(&fixture("kubectl/probe-ready.txt"));
    assert_eq!(up.nodes.len(), 3);
    assert!(up.nodes.iter().all(|n| n.ready && n.version == "v1.36.3"));
    assert_eq!(up.nodes[0].roles, "control-plane");
    assert_eq!(up.nodes[1].roles, "<none>");
    assert_eq!(up.nodes[2].internal_ip, "10.0.0.22");
    assert_eq!((up.flannel, up.coredns), ((3, 3), (2, 2)));
    assert_eq!(missing(&inv, &up), Vec::<String>::new());
    insta::assert_snapshot!("node_table", table(&up));

    let starting = parse(&fixture("kubectl/probe-starting.txt"));
    assert_eq!(
        missing(&inv, &starting),
        [
            "node worker-1 is not Ready",
            "node worker-2 is not Ready",
            "flannel pods running: 1 of 3",
            "CoreDNS pods running: 0 of 2"
        ]
    );
    // A node the inventory has but the cluster does not know yet.
    let bigger = inventory(&format!(
        "{}[[hosts]]\nname = \"worker-3\"\naddress = \"10.0.0.23\"\nroles = [\"worker\"]\n",
        "[cluster]\nname = \"r\"\nkubernetes_version = \"1.36.3\"\n\
         [[hosts]]\nname = \"cp-1\"\naddress = \"10.0.0.11\"\nroles = [\"control-plane\", \"etcd\"]\n\
         [[hosts]]\nname = \"worker-1\"\naddress = \"10.0.0.21\"\nroles = [\"worker\"]\n\
         [[hosts]]\nname = \"worker-2\"\naddress = \"10.0.0.22\"\nroles = [\"worker\"]\n"
    ));
    assert_eq!(
        missing(&bigger, &up),
        ["node worker-3 is not registered", "flannel pods running: 3 of 4"]
    );
    // The API not answering at all (kubectl printed nothing) is "not up", not a crash.
    assert_eq!(missing(&inv, &parse("")).len(), 5);
}

/// Answers the probe from fixtures in turn (the last one repeats); counts the questions.
struct Cluster {
    answers: Vec<&'static str>,
    asked: Mutex<Vec<String>>,
}

impl Transport for Cluster {
    async fn run(&self, host: &Host, req: &Request) -> Result<Output, ExecError> {
        let Payload::Script(s) = &req.payload else {
            panic!("the probe uploads nothing")
        };
        assert_eq!(s, PROBE);
        let mut asked = self.asked.lock().unwrap();
        asked.push(host.name.to_string());
        let name = self.answers[(asked.len() - 1).min(self.answers.len() - 1)];
        Ok(Output {
            status: Some(0),
            stdout: fixture(&format!("kubectl/{name}.txt")),
            stderr: String::new(),
            duration: Duration::ZERO,
        })
    }
}

#[tokio::test]
async fn the_wait_asks_the_first_control_plane_until_the_cluster_is_up_or_time_is_over() {
    let inv = cluster();
    let t = Cluster {
        answers: vec!["probe-starting", "probe-starting", "probe-ready"],
        asked: Mutex::new(vec![]),
    };
    let r = wait(&t, &inv, Duration::from_secs(30), Duration::from_millis(10))
        .await
        .unwrap();
    assert!(r.ok && r.missing.is_empty(), "{r:?}");
    assert_eq!(*t.asked.lock().unwrap(), ["cp-1", "cp-1", "cp-1"]);

    let t = Cluster {
        answers: vec!["probe-starting"],
        asked: Mutex::new(vec![]),
    };
    let r = wait(&t, &inv, Duration::from_millis(100), Duration::from_millis(10))
        .await
        .unwrap();
    assert!(!r.ok);
    assert_eq!(r.missing.len(), 4);
    assert!(t.asked.lock().unwrap().len() >= 2, "asked again before giving up");
}

#[test]
fn the_cluster_facts_of_an_initialised_control_plane_list_namespaces_and_releases() {
    // The object listing's jsonpath (tab-separated), kube-system's config maps `-o name`, the
    // token Secrets' jsonpath and `helm list -A -o json` as they print.
    let raw = "@@groundup-fact:cluster\nNamespace\t\tdefault\t{}\t\t\nNamespace\t\tfiware\t{}\t\t\n\
               Namespace\t\tkube-system\t{}\t\t\nNode\t\tcp-1\t{}\t\t\nNode\t\tworker-1\t{}\t\t\n\
               configmap/kubeadm-config\n@@tokens\nbootstrap-token-abcdef MjAyNi0xMS0yNVQwOTozMDowMFo=\n\
               @@releases\n\
               [{\"name\":\"ingress-nginx\",\"namespace\":\"ingress-nginx\",\"revision\":\"1\",\
               \"updated\":\"2026-11-24 09:31:02.417 +0000 UTC\",\"status\":\"deployed\",\
               \"chart\":\"ingress-nginx-4.14.1\",\"app_version\":\"1.14.1\"}]\n";
    let f = groundup::facts::parse(raw);
    let c = f.state.cluster.expect("cluster section");
    assert_eq!(c.namespaces, ["default", "fiware", "kube-system"]);
    assert_eq!(c.nodes, ["cp-1", "worker-1"]);
    assert_eq!(
        c.tokens.get("abcdef"),
        Some(&Some(1_795_599_000)),
        "2026-11-25T09:30:00Z"
    );
    assert_eq!(c.releases.len(), 1);
    assert_eq!(
        (c.releases[0].chart.as_str(), c.releases[0].status.as_str()),
        ("ingress-nginx-4.14.1", "deployed")
    );
    // Elsewhere (or before init) the section is empty: nothing known, not "no namespaces".
    assert!(groundup::facts::parse("@@groundup-fact:cluster\n")
        .state
        .cluster
        .is_none());
}
