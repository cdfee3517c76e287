//! The command line: help that teaches, errors that say what to do, exit codes in one place.

use crate::common::junheng;

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    let run = junheng(&["run", "--help"]);
    assert_eq!(run.code, 0);
    for needle in
        ["standard layout", "EXAMPLES", "junheng run pipelines/wudalianchi.toml", "EXIT STATUS", "1  the run finished"]
    {
        assert!(run.stdout.contains(needle), "run --help lacks {needle:?}:\n{}", run.stdout);
    }
    let run = junheng(&["--help"]);
    assert!(run.stdout.contains("validate") && run.stdout.contains("EXIT STATUS"), "{}", run.stdout);
}

#[test]
fn nothing_to_read_is_a_configuration_error() {
    let run = junheng(&["run", "--out", "/tmp/never"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("give a pipeline file, or --source DIR"), "{}", run.stderr);
    let run = junheng(&["run", "--source", "fixtures/bad"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no output: give --out"), "{}", run.stderr);
    let run = junheng(&["validate", "--source", "no/such/folder"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such/folder") && run.stderr.contains("not a folder"), "{}", run.stderr);
}

#[test]
fn unknown_pipeline_keys_name_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "[source]\nurl = \"data\"\n[settings]\nteaching_point = \"separate\"\n").unwrap();
    let run = junheng(&["validate", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("typo.toml") && run.stderr.contains("teaching_point"), "{}", run.stderr);
}

#[test]
fn pipeline_keys_prints_the_reference_the_docs_hold() {
    let run = junheng(&["pipeline", "keys"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for needle in ["[source]", "[tables.<table>]", "skip_where", "encoding", "[settings]", "school_system"] {
        assert!(run.stdout.contains(needle), "no {needle:?} in:\n{}", run.stdout);
    }
    let markdown = junheng(&["pipeline", "keys", "--markdown"]);
    let committed = std::fs::read_to_string(crate::common::repo().join("docs/pipeline-keys.md")).unwrap();
    assert_eq!(
        markdown.stdout, committed,
        "docs/pipeline-keys.md is not what `junheng pipeline keys --markdown` prints"
    );
}
