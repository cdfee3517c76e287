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
    let mut on_disk = Vec::new();
    for county in std::fs::read_dir(&root).unwrap() {
        for year in std::fs::read_dir(county.unwrap().path()).unwrap() {
            on_disk.extend(std::fs::read_dir(year.unwrap().path()).unwrap().map(|f| f.unwrap().path()));
        }
    }
    assert_eq!(on_disk.len(), expected.len(), "fixtures/wudalianchi has files the generator does not write");
}
