//! Issue 13: `[[helm.releases]]` from a local chart archive (FIWARE Lab, where chart repositories
//! are blocked): the archive's Chart.yaml must carry the pinned version; it is uploaded once like
//! the `[artifacts]` files (sha256-checked) and only when the release is to be installed, and a
//! deployed release is left alone exactly like a repository chart.

use std::path::Path;

use groundup::commands::plan::build;
use groundup::facts::state::{ClusterState, Release};
use groundup::inventory::Inventory;
use groundup::plan::{phases, Context, Item};

use crate::common::host_facts;
use crate::plan::{generated_pki, planned};

/// A chart archive as `helm package` makes it: `<name>/Chart.yaml` and a template, gzip'd tar.
pub(crate) fn chart_archive(path: &Path, name: &str, version: &str) {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (file, text) in [
        ("Chart.yaml", format!("apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n")),
        (
            "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hello\ndata:\n  from: a local chart archive\n".into(),
        ),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, format!("{name}/{file}"), text.as_bytes()).unwrap();
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, tar.into_inner().unwrap().finish().unwrap()).unwrap();
}

fn inventory_with(dir: &Path, release: &str) -> Result<Inventory, String> {
    let text = format!(
        "[cluster]\nname = \"fiware\"\nkubernetes_version = \"1.36.3\"\n\n[[hosts]]\nname = \"master\"\naddress = \"10.0.0.10\"\n\
         roles = [\"control-plane\", \"etcd\"]\n\n[[hosts]]\nname = \"worker\"\naddress = \"10.0.0.11\"\nroles = [\"worker\"]\n\n\
         [[helm.releases]]\n{release}"
    );
    let p = dir.join("inventory.toml");
    std::fs::write(&p, &text).unwrap();
    Inventory::load(&p).map_err(|e| e.render_plain().replace(&dir.display().to_string(), "<dir>"))
}

const ORION: &str =
    "name = \"orion\"\nchart = \"charts/orion-1.2.3.tgz\"\nversion = \"1.2.3\"\nnamespace = \"fiware\"\n";

#[test]
fn a_local_chart_goes_up_once_and_a_deployed_release_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    chart_archive(&dir.path().join("charts/orion-1.2.3.tgz"), "orion", "1.2.3");
    let inv = inventory_with(dir.path(), ORION).unwrap();
    let r = &inv.node.releases[0];
    assert_eq!((r.chart.as_str(), r.archive.is_some()), ("orion", true));
    let certs = generated_pki(&inv);
    let cx = Context::with_certs(&inv, Some(certs.path())).unwrap();
    let plan_with = |deployed: bool, on_host: Option<&str>| {
        let gathered: Vec<_> = inv
            .hosts
            .iter()
            .map(|_| {
                let mut hf = host_facts("debian-12-prepared", 0.1);
                let mut st = ClusterState::default();
                if deployed {
                    st.releases.push(Release {
                        name: "orion".into(),
                        namespace: "fiware".into(),
                        chart: "orion-1.2.3".into(),
                        status: "deployed".into(),
                    });
                }
                hf.facts.state.cluster = Some(st);
                if let Some(sha) = on_host {
                    hf.facts.state.artifacts.insert("orion-1.2.3.tgz".into(), sha.into());
                }
                Ok(hf)
            })
            .collect();
        build(&cx, &phases::until(Some("addons")).unwrap(), &inv.hosts, &gathered).0
    };
    let fresh = plan_with(false, None);
    let addons = fresh.phases.iter().find(|p| p.phase == "addons").unwrap();
    let text = groundup::plan::show::text(std::slice::from_ref(addons), false);
    insta::assert_snapshot!(
        "local_chart_fresh",
        text.replace(&dir.path().display().to_string(), "<dir>")
    );

    // The archive is already on the host (verified): only helm runs.
    let sha = match &planned(&fresh, "addons", "master")[0] {
        Item::Change(s) => match &s.action {
            groundup::plan::Action::Upload { sha256, .. } => sha256.clone(),
            a => panic!("{a:?}"),
        },
        i => panic!("{i:?}"),
    };
    let again = plan_with(false, Some(&sha));
    let items = planned(&again, "addons", "master");
    assert!(
        matches!(&items[0], Item::Unchanged { what, .. } if what == "artifact orion-1.2.3.tgz"),
        "{items:?}"
    );
    assert!(
        matches!(&items[1], Item::Change(s) if s.title.contains("/var/cache/groundup/artifacts/orion-1.2.3.tgz")),
        "{items:?}"
    );

    // Deployed at that version: left alone, nothing uploaded even where the cache is gone.
    let done = plan_with(true, None);
    let items = planned(&done, "addons", "master");
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        matches!(&items[0], Item::Unchanged { why, .. } if why == "orion-1.2.3 deployed"),
        "{items:?}"
    );
}

#[test]
fn a_chart_archive_that_does_not_fit_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    chart_archive(&dir.path().join("charts/orion-1.2.3.tgz"), "orion", "1.2.3");
    std::fs::write(dir.path().join("charts/broken.tgz"), b"not a gzip").unwrap();
    for (name, release) in [
        ("version", ORION.replace("version = \"1.2.3\"", "version = \"1.2.4\"")),
        ("repo", format!("{ORION}repo = \"https://charts.example.org\"\n")),
        ("broken", ORION.replace("orion-1.2.3.tgz", "broken.tgz")),
        ("missing", ORION.replace("orion-1.2.3.tgz", "orion-9.tgz")),
    ] {
        let err = inventory_with(dir.path(), &release).unwrap_err();
        insta::assert_snapshot!(format!("local_chart_error_{name}"), err);
    }
}
