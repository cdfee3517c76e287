//! The committed fixtures are exactly what the generator writes.

use crate::common::repo;

#[test]
fn the_seed_fixture_is_the_generators_output() {
    let expected = junheng_generate::seed::files();
    let root = repo().join("fixtures/wudalianchi");
    for (relative, text) in &expected {
        let on_disk = std::fs::read_to_string(root.join(relative)).unwrap_or_else(|_| {
            panic!("fixtures/wudalianchi/{relative} is missing; run `junheng generate seed --out fixtures/wudalianchi`")
        });
        assert!(on_disk == *text, "fixtures/wudalianchi/{relative} differs from the generator; regenerate it");
    }
    // Every file below the county-year folders, evidence folders included.
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { files(&path, out) } else { out.push(path) }
        }
    }
    let mut on_disk = Vec::new();
    files(&root, &mut on_disk);
    assert_eq!(on_disk.len(), expected.len(), "fixtures/wudalianchi has files the generator does not write");
}
