//! Reading an Ansible INI inventory as the FIWARE Lab playbooks and Kubespray write them: hosts
//! (with `key=value` variables, and ranges such as `node[01:03]` or `db-[a:c]`), `[group]`,
//! `[group:vars]` and `[group:children]` sections, `#`/`;` comments. Only what an inventory says;
//! mapping it to groundup is [`super::map`]. Pure.

use std::collections::BTreeMap;

/// An Ansible inventory: hosts in file order, groups with their hosts, children and variables.
#[derive(Debug, Default)]
pub struct Ansible {
    /// Host name → its own variables (from its host lines), in the order first seen.
    pub hosts: Vec<(String, BTreeMap<String, String>)>,
    pub groups: BTreeMap<String, Group>,
}

#[derive(Debug, Default, Clone)]
pub struct Group {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub vars: BTreeMap<String, String>,
    /// The line the group's first section starts on.
    pub line: usize,
}

/// A line that is not Ansible INI.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

enum Section {
    Hosts(String),
    Vars(String),
    Children(String),
}

pub fn parse(text: &str) -> Result<Ansible, ParseError> {
    let mut inv = Ansible::default();
    let mut section = Section::Hosts("ungrouped".into());
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| ParseError { line: line_no, message };
        if let Some(head) = line.strip_prefix('[') {
            let head = head
                .strip_suffix(']')
                .ok_or_else(|| err(format!("`{line}`: a section header ends with `]`")))?;
            let (name, kind) = head.split_once(':').unwrap_or((head, ""));
            if name.is_empty() {
                return Err(err("a section header needs a group name".into()));
            }
            inv.groups.entry(name.to_string()).or_insert_with(|| Group {
                line: line_no,
                ..Group::default()
            });
            section = match kind {
                "" => Section::Hosts(name.into()),
                "vars" => Section::Vars(name.into()),
                "children" => Section::Children(name.into()),
                other => {
                    return Err(err(format!(
                        "`[{head}]`: unknown section kind `:{other}` (hosts, :vars or :children)"
                    )))
                }
            };
            continue;
        }
        match &section {
            Section::Vars(g) => {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| err(format!("`{line}`: a [{g}:vars] line is `name=value`")))?;
                let v = words(v.trim()).map_err(err)?.join(" ");
                inv.groups
                    .get_mut(g)
                    .expect("made at its header")
                    .vars
                    .insert(k.trim().into(), v);
            }
            Section::Children(g) => {
                let child = line.to_string();
                inv.groups.entry(child.clone()).or_insert_with(|| Group {
                    line: line_no,
                    ..Group::default()
                });
                inv.groups.get_mut(g).expect("made at its header").children.push(child);
            }
            Section::Hosts(g) => {
                let w = words(line).map_err(err)?;
                let (pattern, vars) = w.split_first().expect("a non-empty line has a word");
                let mut own = BTreeMap::new();
                for kv in vars {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| err(format!("`{kv}`: host variables are `name=value`")))?;
                    own.insert(k.to_string(), v.to_string());
                }
                let names = expand(pattern).map_err(err)?;
                inv.groups.entry(g.clone()).or_default();
                for name in names {
                    match inv.hosts.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, vars)) => vars.extend(own.clone()),
                        None => inv.hosts.push((name.clone(), own.clone())),
                    }
                    let group = inv.groups.get_mut(g).expect("made above");
                    if !group.hosts.contains(&name) {
                        group.hosts.push(name);
                    }
                }
            }
        }
    }
    Ok(inv)
}

/// `#` and `;` start a comment at the start of a line or after white space (not inside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if (c == '#' || c == ';') && prev_space => return &line[..i],
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// Splits on white space, honouring shell-style quotes (`key='a b'`).
fn words(text: &str) -> Result<Vec<String>, String> {
    shlex::split(text).ok_or_else(|| format!("`{text}`: a quote is not closed"))
}

/// `node[01:03]` → node01 node02 node03; `db-[a:c]` → db-a db-b db-c; `x[0:10:5]` → x0 x5 x10.
pub fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let Some((head, rest)) = pattern.split_once('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let (range, tail) = rest
        .split_once(']')
        .ok_or_else(|| format!("`{pattern}`: a range is `[start:end]`"))?;
    let parts: Vec<&str> = range.split(':').collect();
    let bad = || format!("`{pattern}`: a range is `[start:end]` or `[start:end:step]`");
    let (start, end, step) = match parts.as_slice() {
        [s, e] => (*s, *e, 1),
        [s, e, st] => (*s, *e, st.parse::<usize>().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    if step == 0 {
        return Err(bad());
    }
    let mut out = Vec::new();
    let tails = expand(tail)?;
    let mut push = |item: String| {
        for t in &tails {
            out.push(format!("{head}{item}{t}"));
        }
    };
    if let (Ok(a), Ok(b)) = (start.parse::<usize>(), end.parse::<usize>()) {
        let width = if start.starts_with('0') { start.len() } else { 0 };
        if a > b {
            return Err(bad());
        }
        for n in (a..=b).step_by(step) {
            push(format!("{n:0width$}"));
        }
    } else {
        let (sc, ec): (Vec<char>, Vec<char>) = (start.chars().collect(), end.chars().collect());
        let (a, b) = match (sc.as_slice(), ec.as_slice()) {
            ([a], [b]) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && a <= b => (*a, *b),
            _ => return Err(bad()),
        };
        for c in (a..=b).step_by(step) {
            push(c.to_string());
        }
    }
    Ok(out)
}

impl Ansible {
    /// Every group `host` is in, directly or through `:children`, nearest first.
    pub fn groups_of(&self, host: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .groups
            .iter()
            .filter(|(_, g)| g.hosts.iter().any(|h| h == host))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut i = 0;
        while i < out.len() {
            let child = out[i];
            for (n, g) in &self.groups {
                if g.children.iter().any(|c| c == child) && !out.contains(&n.as_str()) {
                    out.push(n);
                }
            }
            i += 1;
        }
        out
    }

    /// A host's variables as Ansible resolves them: `all`, then its groups from the farthest
    /// parent to the nearest, then its own.
    pub fn vars_of(&self, host: &str) -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        let mut layers: Vec<&str> = self.groups_of(host);
        layers.reverse();
        let from_group = |out: &mut BTreeMap<String, (String, String)>, g: &str| {
            if let Some(group) = self.groups.get(g) {
                for (k, v) in &group.vars {
                    out.insert(k.clone(), (v.clone(), format!("[{g}:vars]")));
                }
            }
        };
        from_group(&mut out, "all");
        for g in layers.into_iter().filter(|g| *g != "all") {
            from_group(&mut out, g);
        }
        if let Some((_, own)) = self.hosts.iter().find(|(n, _)| n == host) {
            for (k, v) in own {
                out.insert(k.clone(), (v.clone(), "its host line".to_string()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(expand("node[01:03]").unwrap(), ["node01", "node02", "node03"]);
        assert_eq!(expand("db-[a:c].lab").unwrap(), ["db-a.lab", "db-b.lab", "db-c.lab"]);
        assert_eq!(expand("x[0:10:5]").unwrap(), ["x0", "x5", "x10"]);
        assert_eq!(expand("plain").unwrap(), ["plain"]);
        assert!(expand("bad[3:1]").is_err());
        assert!(expand("bad[1:2").is_err());
    }

    #[test]
    fn comments_and_quotes() {
        assert_eq!(strip_comment("a=1 # note"), "a=1 ");
        assert_eq!(strip_comment("args='-o x#y' ; c"), "args='-o x#y' ");
        assert_eq!(strip_comment("name#1"), "name#1");
    }
}
