//! `groundup import ansible FILE`: an Ansible INI inventory read (`import::ansible`), mapped
//! (`import::map`), validated as groundup would load it, printed on standard output. Exit 0;
//! 2 when the file cannot be read or parsed (naming its line), or when the result does not
//! validate (the TOML is still printed, the reason goes to standard error).

use std::path::Path;

use crate::cli::ImportAnsibleArgs;
use crate::import::{ansible, map};
use crate::inventory::Inventory;

use super::Failure;

pub fn ansible(args: ImportAnsibleArgs) -> Result<u8, Failure> {
    let path = &args.file;
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("cannot read `{}`: {e}", path.display())))?;
    let parsed =
        ansible::parse(&text).map_err(|e| Failure::Usage(format!("{}:{}: {}", path.display(), e.line, e.message)))?;
    let mut pairs = Vec::new();
    for m in &args.map {
        let (g, r) = m
            .split_once('=')
            .ok_or_else(|| Failure::Usage(format!("--map {m}: write it GROUP=ROLE")))?;
        if !["control-plane", "etcd", "worker", "none"].contains(&r) {
            return Err(Failure::Usage(format!(
                "--map {m}: `{r}` is not a role (control-plane, etcd, worker, or none to leave the group out)"
            )));
        }
        pairs.push((g.to_string(), r.to_string()));
    }
    let opts = map::Options {
        source: path.display().to_string(),
        cluster: args.name.clone().unwrap_or_else(|| cluster_name(path)),
        kubernetes_version: args.kubernetes_version.clone(),
        map: pairs,
    };
    let toml = map::to_toml(&parsed, &opts).map_err(Failure::Usage)?;
    print!("{toml}");
    // Relative paths in it (identity files) are read against the folder it will be saved in;
    // here only its shape and rules are checked.
    match Inventory::parse(Path::new("imported.toml"), toml) {
        Ok(_) => Ok(crate::exit::OK),
        Err(e) => {
            eprint!("{}", e.render_for_stderr());
            eprintln!("the inventory above does not validate yet: fix what is named, then `groundup check -i` it");
            Ok(crate::exit::USAGE)
        }
    }
}

/// The file's stem as a cluster name (`fiware-lab.ini` → `fiware-lab`); `cluster` for the
/// generic names (`hosts`, `inventory`).
fn cluster_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("cluster")
        .to_ascii_lowercase();
    let clean: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let clean = clean.trim_matches('-').to_string();
    if clean.is_empty() || ["hosts", "inventory", "inventory-ini"].contains(&clean.as_str()) {
        "cluster".into()
    } else {
        clean
    }
}
