//! Keeps the core in layers: every `crate::…` (and `super::…`) path in
//! `core/src`, outside `#[cfg(test)]` code, must point to the same folder or
//! to a layer below (see the layer map in `lib.rs`). A path that points up,
//! or sideways into another folder of the same layer, fails the test with
//! its file and line.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. Folders on one line are one layer: they may
/// not import each other.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["model"],
    &["platform"],
    &["otp", "coordination"],
    &["events"],
    &["delivery", "health", "inbound"],
    &["session", "pool"],
    &["gateway"],
    &["for_bindings"],
];

fn rank(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&folder))
}

/// One source file: its path under `src` and its text.
struct Source {
    path: String,
    text: String,
}

/// An import that breaks the rule.
#[derive(Debug, PartialEq)]
struct Violation {
    file: String,
    line: usize,
    message: String,
}

/// The module path of a file: `gateway/builder.rs` → `[gateway, builder]`,
/// `gateway/mod.rs` → `[gateway]`, `error.rs` → `[error]`.
fn module_path(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts
}

/// Files that are test code as a whole: `#[cfg(test)] mod x;` in their parent.
fn test_only_files(sources: &[Source]) -> Vec<String> {
    let mut files = Vec::new();
    for source in sources {
        let dir = {
            let module = module_path(&source.path);
            if source.path.ends_with("mod.rs") {
                module.join("/")
            } else {
                module[..module.len() - 1].join("/")
            }
        };
        let lines: Vec<&str> = source.text.lines().collect();
        for pair in lines.windows(2) {
            let attr = pair[0].trim();
            let decl = pair[1].trim();
            if attr.starts_with("#[cfg(")
                && attr.contains("test")
                && let Some(name) = decl
                    .strip_prefix("mod ")
                    .and_then(|rest| rest.strip_suffix(';'))
            {
                let base = if dir.is_empty() {
                    name.to_owned()
                } else {
                    format!("{dir}/{name}")
                };
                files.push(format!("{base}.rs"));
                files.push(format!("{base}/mod.rs"));
            }
        }
    }
    files
}

/// The code lines of a file with comments and `#[cfg(test)]` blocks blanked
/// (line numbers kept).
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_depth: Option<i64> = None;
    let mut pending_test_attr = false;
    for raw in text.lines() {
        let line = match raw.find("//") {
            // A `//` inside a string (a URL) is rare in an import line; cut
            // only where the rest of the line is a comment.
            Some(i) if !raw[..i].contains('"') => &raw[..i],
            _ => raw,
        };
        let trimmed = line.trim();
        if let Some(depth) = skip_depth.as_mut() {
            *depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if *depth <= 0 {
                skip_depth = None;
            }
            out.push(String::new());
            continue;
        }
        if trimmed.starts_with("#[cfg(") && trimmed.contains("test") {
            pending_test_attr = true;
            out.push(String::new());
            continue;
        }
        if pending_test_attr && !trimmed.starts_with("#[") {
            pending_test_attr = false;
            let depth = line.matches('{').count() as i64 - line.matches('}').count() as i64;
            if depth > 0 {
                skip_depth = Some(depth);
            }
            out.push(String::new());
            continue;
        }
        out.push(line.to_owned());
    }
    out
}

/// Names the crate root re-exports, with the folder each comes from
/// (`pub use gateway::{Gateway, …}` → `Gateway` → `gateway`).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let flat = lib.replace('\n', " ");
    for statement in flat.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_start_matches("crate::");
        let Some((folder, items)) = rest.split_once("::") else {
            continue;
        };
        let folder = folder.trim().to_owned();
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.trim().rsplit("::").next().unwrap_or("").trim();
            let name = name.rsplit(" as ").next().unwrap_or(name).trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), folder.clone());
            }
        }
    }
    names
}

/// The folders a line's paths point to: `crate::x::…`, `crate::{x, y}`,
/// and `super::…` resolved from the file's module path.
fn targets(line: &str, module: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = line.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        let preceded = i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b':');
        if !preceded && rest.starts_with("crate::") {
            let after = &rest["crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                for item in group.split(',') {
                    let first = item.trim().split("::").next().unwrap_or("").trim();
                    if !first.is_empty() && first != "self" {
                        found.push(first.to_owned());
                    }
                }
            } else {
                found.extend(leading_ident(after));
            }
            i += "crate::".len();
            continue;
        }
        if !preceded && rest.starts_with("super::") {
            let mut level = module.len();
            let mut after = rest;
            while let Some(next) = after.strip_prefix("super::") {
                level = level.saturating_sub(1);
                after = next;
            }
            if level == 0 {
                found.extend(leading_ident(after));
            } else {
                found.push(module[0].clone());
            }
            i += rest.len() - after.len();
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    found
}

/// The identifier `s` starts with, if any.
fn leading_ident(s: &str) -> Option<String> {
    let ident: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty()).then_some(ident)
}

/// Checks every source against the layer order.
fn check(sources: &[Source], reexports: &BTreeMap<String, String>) -> Vec<Violation> {
    let test_only = test_only_files(sources);
    let mut violations = Vec::new();
    for source in sources {
        if source.path == "lib.rs" || test_only.contains(&source.path) {
            continue;
        }
        let module = module_path(&source.path);
        let folder = module[0].clone();
        let Some(own) = rank(&folder) else {
            violations.push(Violation {
                file: source.path.clone(),
                line: 0,
                message: format!(
                    "`{folder}` is in no layer (add it to LAYERS, or move the file into a folder)"
                ),
            });
            continue;
        };
        for (n, line) in code_lines(&source.text).iter().enumerate() {
            for target in targets(line, &module) {
                let target_folder = reexports.get(&target).cloned().unwrap_or(target.clone());
                if target_folder == folder {
                    continue;
                }
                let message = match rank(&target_folder) {
                    None => format!("`{target}` is in no layer"),
                    Some(r) if r > own => format!(
                        "`{folder}` (layer {own}) imports `{target}` from `{target_folder}` (layer {r}), a layer above it"
                    ),
                    Some(r) if r == own => format!(
                        "`{folder}` imports `{target}` from `{target_folder}`, a folder of its own layer"
                    ),
                    Some(_) => continue,
                };
                violations.push(Violation {
                    file: source.path.clone(),
                    line: n + 1,
                    message,
                });
            }
        }
    }
    violations
}

fn read_sources(dir: &Path, root: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push(Source {
                path: rel,
                text: fs::read_to_string(&path).unwrap(),
            });
        }
    }
}

#[test]
fn every_import_points_down_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    read_sources(&src, &src, &mut sources);
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let violations = check(&sources, &root_reexports(&lib));
    let report: Vec<String> = violations
        .iter()
        .map(|v| format!("core/src/{}:{}: {}", v.file, v.line, v.message))
        .collect();
    assert!(
        report.is_empty(),
        "imports that break the layers:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_crate_root_holds_only_lib_and_error() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut loose: Vec<String> = fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "lib.rs" && name != "error.rs")
        .collect();
    loose.sort();
    assert!(loose.is_empty(), "loose files in core/src: {loose:?}");
}

#[test]
fn the_checker_names_an_upward_import() {
    let sources = vec![
        Source {
            path: "model/example.rs".into(),
            text: "use crate::error::Result;\n\nuse crate::gateway::Gateway;\n\n#[cfg(test)]\nmod tests {\n    use crate::session::Session;\n}\n".into(),
        },
        Source {
            path: "delivery/example.rs".into(),
            text: "fn f() -> crate::Result<()> {\n    let _ = crate::Gateway::builder();\n    super::super::session::x();\n    Ok(())\n}\n".into(),
        },
        Source {
            path: "otp/example.rs".into(),
            text: "use crate::{coordination::Lease, model::SessionId};\n".into(),
        },
    ];
    let reexports = root_reexports(
        "pub use error::{Error, Result};\npub use gateway::{\n    Gateway, GatewayBuilder,\n};\n",
    );
    let found: Vec<(String, usize)> = check(&sources, &reexports)
        .into_iter()
        .map(|v| (v.file, v.line))
        .collect();
    assert_eq!(
        found,
        vec![
            ("model/example.rs".to_owned(), 3),
            ("delivery/example.rs".to_owned(), 2),
            ("delivery/example.rs".to_owned(), 3),
            ("otp/example.rs".to_owned(), 1),
        ]
    );
}
