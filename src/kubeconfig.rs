//! The admin kubeconfig for people: groundup's `admin.conf` (made by `pki generate`) written to a
//! file, or merged into an existing kubeconfig. Merging renames the user and context to
//! `kubernetes-admin@<cluster>`, so several clusters' admin.conf (all user `kubernetes-admin`)
//! never overwrite each other; entries of the same name are replaced, others kept; the current
//! context is set only when there is none. Pure: text in, text out.

use serde_norway::{Mapping, Value};

/// Where the admin kubeconfig of `cluster` lives in its PKI folder, relative to it.
pub fn admin_conf_rel(first_control_plane: &str) -> String {
    format!("nodes/{first_control_plane}/admin.conf")
}

/// `admin` with its `server:` replaced by `server` (our own template has exactly one).
pub fn with_server(admin: &str, server: &str) -> String {
    admin
        .lines()
        .map(|l| match l.trim_start().strip_prefix("server: ") {
            Some(_) => format!("{}server: {server}", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The first `server:` of a kubeconfig.
pub fn server_of(kubeconfig: &str) -> Option<String> {
    kubeconfig
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("server: "))
        .map(|s| s.trim().to_string())
}

/// Adds `tls-server-name: NAME` beside every `server:` line (the name checked in the API server's
/// certificate when the address is not one of its SANs, as through a tunnel).
pub fn with_tls_server_name(admin: &str, name: &str) -> String {
    let mut out = String::new();
    for l in admin.lines() {
        out.push_str(l);
        out.push('\n');
        if l.trim_start().starts_with("server: ") {
            let indent = &l[..l.len() - l.trim_start().len()];
            out.push_str(&format!("{indent}tls-server-name: {name}\n"));
        }
    }
    out
}

fn list<'a>(doc: &'a mut Mapping, key: &str) -> &'a mut Vec<Value> {
    let entry = doc.entry(Value::from(key)).or_insert_with(|| Value::Sequence(vec![]));
    if !entry.is_sequence() {
        *entry = Value::Sequence(vec![]);
    }
    entry.as_sequence_mut().expect("made a sequence just above")
}

fn named(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

/// Merges groundup's `admin` kubeconfig for `cluster` into `existing` (None: a new file).
/// Returns the new text and the context name.
pub fn merge(existing: Option<&str>, admin: &str, cluster: &str) -> Result<(String, String), String> {
    let ours: Value = serde_norway::from_str(admin).map_err(|e| format!("admin.conf is not YAML: {e}"))?;
    let first = |k: &str| {
        ours.get(k)
            .and_then(|l| l.get(0))
            .cloned()
            .ok_or_else(|| format!("admin.conf has no {k}"))
    };
    let mut c = first("clusters")?;
    let mut u = first("users")?;
    let mut x = first("contexts")?;
    let name = format!("kubernetes-admin@{cluster}");
    c["name"] = Value::from(cluster);
    u["name"] = Value::from(name.clone());
    x["name"] = Value::from(name.clone());
    x["context"]["cluster"] = Value::from(cluster);
    x["context"]["user"] = Value::from(name.clone());

    let mut doc: Mapping = match existing.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => serde_norway::from_str(t).map_err(|e| format!("the existing kubeconfig is not YAML: {e}"))?,
        None => Mapping::new(),
    };
    doc.entry(Value::from("apiVersion")).or_insert(Value::from("v1"));
    doc.entry(Value::from("kind")).or_insert(Value::from("Config"));
    for (key, entry) in [("clusters", c), ("users", u), ("contexts", x)] {
        let l = list(&mut doc, key);
        let n = named(&entry).map(str::to_string);
        l.retain(|e| named(e) != n.as_deref());
        l.push(entry);
    }
    let current = doc.get("current-context").and_then(Value::as_str).unwrap_or("");
    if current.is_empty() {
        doc.insert(Value::from("current-context"), Value::from(name.clone()));
    }
    let text = serde_norway::to_string(&doc).map_err(|e| e.to_string())?;
    Ok((text, name))
}
