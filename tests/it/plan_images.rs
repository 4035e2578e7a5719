//! Phase `images`: image archives in `[artifacts]` are recognised by their contents (a helm
//! tarball is not one), named as containerd names them, uploaded once and imported only while
//! one of their images is missing, and pinned (issue 21: kubelet's image garbage collection keeps
//! them); an archive without names is refused before anything runs.

use groundup::artifacts::{Catalogue, Kind};
use groundup::commands::plan::build;
use groundup::plan::{phases, Action, Context, Item};

use crate::common::host_facts;
use crate::lab_support::{stand_in_helm, stand_in_image};
use crate::plan::{load, planned};

/// (changed?, step id or what, script or why) of phase `images` on cp-1, whose containerd holds
/// `have`, of which `pinned` are pinned.
fn images_plan(cx: &Context, have: &[&str], pinned: &[&str]) -> Vec<(bool, String, String)> {
    let inv = cx.inv;
    let gathered: Vec<_> = inv
        .hosts
        .iter()
        .map(|_| {
            let mut hf = host_facts("debian-12-prepared", 0.1);
            hf.facts.state.images = have.iter().map(|s| s.to_string()).collect();
            hf.facts.state.pinned = pinned.iter().map(|s| s.to_string()).collect();
            Ok(hf)
        })
        .collect();
    let (r, _) = build(cx, &phases::until(Some("images")).unwrap(), &inv.hosts, &gathered);
    planned(&r, "images", "cp-1")
        .iter()
        .map(|i| match i {
            Item::Change(st) => match &st.action {
                Action::Script { script } => (true, st.id.clone(), script.clone()),
                Action::Upload { path, .. } => (true, st.id.clone(), path.clone()),
                a => panic!("{a:?}"),
            },
            Item::Unchanged { what, why } => (false, what.clone(), why.clone()),
        })
        .collect()
}

#[test]
fn image_archives_are_imported_once_on_every_node_and_only_while_an_image_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stand_in_image(d, "flannel-v0.28.9.tar.gz", "flannel/flannel:v0.28.9");
    stand_in_image(d, "pause-3.10.1.tar", "registry.k8s.io/pause:3.10.1");
    stand_in_helm(d, "v3.19.0");
    let cat = Catalogue::load(Some(d)).unwrap();
    let kinds: Vec<(&str, Kind, Vec<String>)> = cat
        .files
        .iter()
        .map(|a| (a.file.as_str(), a.kind, a.images.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "flannel-v0.28.9.tar.gz",
                Kind::Image,
                vec!["docker.io/flannel/flannel:v0.28.9".to_string()]
            ),
            ("helm-v3.19.0-linux-amd64.tar.gz", Kind::Other, vec![]),
            (
                "pause-3.10.1.tar",
                Kind::Image,
                vec!["registry.k8s.io/pause:3.10.1".to_string()]
            ),
        ]
    );

    let inv = load("single.toml");
    let mut cx = Context::new(&inv).unwrap();
    cx.artifacts = cat;
    let fresh = images_plan(&cx, &[], &[]);
    let ids: Vec<&str> = fresh.iter().map(|i| i.1.as_str()).collect();
    assert_eq!(
        ids,
        [
            "upload-flannel-v0.28.9.tar.gz",
            "import-flannel-v0.28.9.tar.gz",
            "upload-pause-3.10.1.tar",
            "import-pause-3.10.1.tar"
        ]
    );
    assert!(fresh[1]
        .2
        .contains("gzip -dc /var/cache/groundup/artifacts/flannel-v0.28.9.tar.gz > \"$t\""));
    assert_eq!(
        fresh[3].2,
        "ctr -n k8s.io images import /var/cache/groundup/artifacts/pause-3.10.1.tar\n\
         ctr -n k8s.io images label registry.k8s.io/pause:3.10.1 io.cri-containerd.pinned=pinned >/dev/null"
    );

    let one = images_plan(
        &cx,
        &["registry.k8s.io/pause:3.10.1", "docker.io/library/busybox:latest"],
        &["registry.k8s.io/pause:3.10.1"],
    );
    let changed: Vec<&str> = one.iter().filter(|i| i.0).map(|i| i.1.as_str()).collect();
    assert_eq!(
        changed,
        ["upload-flannel-v0.28.9.tar.gz", "import-flannel-v0.28.9.tar.gz"]
    );
    let both = ["registry.k8s.io/pause:3.10.1", "docker.io/flannel/flannel:v0.28.9"];
    let all = images_plan(&cx, &both, &both);
    assert!(all.iter().all(|i| !i.0), "{all:#?}");
    // Imported by an older groundup (or unpinned by hand): pinned, never imported again.
    let unpinned = images_plan(&cx, &both, &both[..1]);
    let changed: Vec<(&str, &str)> = unpinned
        .iter()
        .filter(|i| i.0)
        .map(|i| (i.1.as_str(), i.2.as_str()))
        .collect();
    assert_eq!(
        changed,
        [(
            "pin-flannel-v0.28.9.tar.gz",
            "ctr -n k8s.io images label docker.io/flannel/flannel:v0.28.9 io.cri-containerd.pinned=pinned >/dev/null"
        )]
    );

    let none = images_plan(&Context::new(&inv).unwrap(), &[], &[]);
    assert_eq!(
        none,
        [(
            false,
            "images".into(),
            "pulled from registries (no image archives in [artifacts])".into()
        )]
    );
}

#[test]
fn an_image_archive_without_names_is_refused_with_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let body = br#"[{"Config":"c.json","RepoTags":null,"Layers":[]}]"#;
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, "manifest.json", &body[..]).unwrap();
    std::fs::write(dir.path().join("anonymous.tar"), b.into_inner().unwrap()).unwrap();
    let e = Catalogue::load(Some(dir.path())).unwrap_err();
    assert!(
        e.contains("anonymous.tar") && e.contains("docker save IMAGE:TAG"),
        "{e}"
    );
}
