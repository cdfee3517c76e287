//! Embeds every file under `sql/` into the binary, so junheng runs its models from anywhere.

use std::fmt::Write as _;
use std::path::Path;

fn collect(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("sql/ is readable").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("sql" | "csv")) {
            out.push(path.strip_prefix(root).expect("under sql/").to_string_lossy().replace('\\', "/"));
        }
    }
}

fn main() {
    // Read when the script runs, not when it was compiled: a target folder shared by two
    // checkouts may run a build script another checkout compiled.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir).join("sql");
    println!("cargo:rerun-if-changed=sql");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut code = String::from(
        "/// Every file under `sql/`: (path relative to `sql/`, contents).\npub static SQL_FILES: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        println!("cargo:rerun-if-changed=sql/{file}");
        // The path is joined when the crate compiles, not here: a target folder shared by two
        // checkouts would otherwise embed the other checkout's files.
        writeln!(code, "    ({file:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/sql/{file}\"))),")
            .unwrap();
    }
    code.push_str("];\n");
    // Cargo keys a build script's output by package, not by checkout, and reruns it only when a
    // listed file changed: a target folder shared by two checkouts can hand this checkout the
    // list of the other's sql/. The crate checks this against its own folder when it compiles.
    writeln!(code, "/// The checkout whose `sql/` was listed.\npub const SQL_LISTED_FOR: &str = {manifest_dir:?};")
        .unwrap();
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("sql_files.rs");
    std::fs::write(out, code).expect("write sql_files.rs");
}
