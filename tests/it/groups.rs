//! The SQL stage run over groups of counties (`--transform-rows`, what keeps a national run's
//! memory to a group's) publishes the same marts as one pass over the whole country.

use crate::common::{assert_same_marts, junheng, ledger};

#[test]
fn county_groups_give_the_same_marts_as_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("national");
    // Nine counties, three years: trends across years, and groups of several counties.
    let generated =
        junheng(&["generate", "national", "--counties", "9", "--years", "3", "--out", source.to_str().unwrap()]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let whole = dir.path().join("whole");
    let a = junheng(&["run", "--quiet", "--source", source.to_str().unwrap(), "--out", whole.to_str().unwrap()]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let rows_read = ledger(&whole)["totals"]["rows_read"].as_u64().unwrap();
    // A limit of a third of the rows: about three counties per group.
    let limit = (rows_read / 3).to_string();
    for (name, rows) in [("thirds", limit.as_str()), ("each county alone", "1")] {
        let grouped = dir.path().join(name.replace(' ', "-"));
        let b = junheng(&[
            "run",
            "--quiet",
            "--transform-rows",
            rows,
            "--source",
            source.to_str().unwrap(),
            "--out",
            grouped.to_str().unwrap(),
        ]);
        assert_eq!(b.code, 0, "{}", b.stderr);
        assert_same_marts(&whole, &grouped, name);
        // One part per group; the ledger counts every group's rows.
        let parts = std::fs::read_dir(grouped.join("marts/balance_cv")).unwrap().count();
        assert!(parts >= 3, "{name}: {parts} parts");
        if rows == "1" {
            assert_eq!(parts, 9, "each county is a group");
        }
        let (l_whole, l_grouped) = (ledger(&whole), ledger(&grouped));
        for (m, n) in l_whole["marts"].as_array().unwrap().iter().zip(l_grouped["marts"].as_array().unwrap()) {
            assert_eq!(m["name"], n["name"]);
            assert_eq!(m["rows"], n["rows"], "{name}: {}", m["name"]);
        }
        // Reference-only models are computed once, not once per group.
        assert_eq!(std::fs::read_dir(grouped.join("current/intermediate/int_thresholds_wide")).unwrap().count(), 1);
    }
}

#[test]
fn groups_never_split_a_county_and_cover_every_code() {
    use junheng::transform::county_groups;
    use std::collections::BTreeMap;
    let counties: BTreeMap<String, u64> =
        [("110101", 40), ("110102", 70), ("120101", 10), ("130101", 200)].map(|(c, n)| (c.to_owned(), n)).into();
    // Everything fits: one group, no filter.
    let one = county_groups(&counties, 1_000);
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].from.as_deref(), one[0].until.as_deref(), one[0].rows), (None, None, 320));
    // 100 rows: 110101 alone (40 + 70 > 100), 110102 + 120101 (80), 130101 alone though larger.
    let groups = county_groups(&counties, 100);
    let bounds: Vec<(Option<&str>, Option<&str>, u64)> =
        groups.iter().map(|g| (g.from.as_deref(), g.until.as_deref(), g.rows)).collect();
    assert_eq!(bounds, [(None, Some("110102"), 40), (Some("110102"), Some("130101"), 80), (Some("130101"), None, 200)]);
}
