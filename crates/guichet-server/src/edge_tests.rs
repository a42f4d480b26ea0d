//! Protobuf stops at the edge: the API's generated types and conversions are named in `services/`
//! only (where the router also registers the descriptor sets of health and reflection). The
//! application, the caches, telemetry, metrics and the AuthZEN edge work on domain types; a file
//! elsewhere that names the API crate or a protobuf module fails here, with its line.

use std::path::{Path, PathBuf};

/// The API crate's name as code spells it, and the path of a protobuf module (the API's `v1`
/// imported under its usual short name, or tonic-health's and tonic-reflection's), each written
/// in two halves so that this file does not name them.
const NEEDLES: [&str; 2] = [concat!("guichet", "_proto"), concat!("pb", "::")];

/// The one directory where protobuf may be named, relative to `src/`.
const EDGE: &str = "services";

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// The lines of `text` (a file at `name`) that name protobuf, as `name:line: text`.
fn offences(name: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| NEEDLES.iter().any(|n| line.contains(n)))
        .map(|(i, line)| format!("{name}:{}: {}", i + 1, line.trim()))
        .collect()
}

#[test]
fn protobuf_is_named_in_services_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    let mut checked = 0;
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        if relative.starts_with(EDGE) {
            continue;
        }
        checked += 1;
        let name = format!("src/{}", relative.display());
        found.extend(offences(&name, &std::fs::read_to_string(path).unwrap()));
    }
    assert!(checked > 20, "only {checked} files outside {EDGE}/ were read under {}", src.display());
    assert!(
        found.is_empty(),
        "protobuf is named outside src/{EDGE}/ (convert at the edge, work on domain types inside):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_every_way_of_naming_protobuf() {
    let text = format!(
        "use {0}::v1 as pb;\nlet x = 1;\nfn f() -> {1}CheckAccessResponse {{}}\n// see {0}'s convert\n",
        NEEDLES[0], NEEDLES[1]
    );
    let found = offences("src/app/x.rs", &text);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("src/app/x.rs:1: use "), "{found:?}");
    assert!(found[1].starts_with("src/app/x.rs:3: fn f()"), "{found:?}");
    assert!(found[2].starts_with("src/app/x.rs:4: // see"), "{found:?}");
    assert!(offences("src/app/y.rs", "use guichet_domain::Answer;\nlet pb = 1;\n").is_empty());
}
