//! The transform stage on Apache DataFusion Ballista (an in-process scheduler and executor:
//! `--engine ballista-standalone`) gives the same marts as the local engine. Built and run with
//! `--features ballista` (scripts/test does).

use crate::common::{assert_same_marts, junheng};

#[test]
fn the_marts_on_ballista_standalone_equal_the_local_engines() {
    let dir = tempfile::tempdir().unwrap();
    for source in ["fixtures/wudalianchi", "fixtures/edge"] {
        let (local, cluster) = (dir.path().join("local"), dir.path().join("ballista"));
        let _ = std::fs::remove_dir_all(&local);
        let _ = std::fs::remove_dir_all(&cluster);
        let a = junheng(&["run", "--quiet", "--source", source, "--out", local.to_str().unwrap()]);
        let b = junheng(&[
            "run",
            "--quiet",
            "--engine",
            "ballista-standalone",
            "--source",
            source,
            "--out",
            cluster.to_str().unwrap(),
        ]);
        // The edge fixture has rejected rows (exit 1): both engines publish and say so alike.
        assert_eq!(a.code, b.code, "{}\n{}", a.stderr, b.stderr);
        assert!(a.code == 0 || a.code == 1, "{}", a.stderr);
        assert_same_marts(&local, &cluster, source);
        // County by county on the cluster too (each group's parts registered as single files).
        let grouped = dir.path().join("ballista-grouped");
        let _ = std::fs::remove_dir_all(&grouped);
        let c = junheng(&[
            "run",
            "--quiet",
            "--engine",
            "ballista-standalone",
            "--transform-rows",
            "1",
            "--source",
            source,
            "--out",
            grouped.to_str().unwrap(),
        ]);
        assert_eq!(a.code, c.code, "{}", c.stderr);
        assert_same_marts(&local, &grouped, source);
        // The version records the reference tables the cluster read.
        assert!(cluster.join("current/reference/ref_thresholds/part-0.parquet").exists());
    }
}

#[test]
fn an_engine_that_cannot_be_reached_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = junheng(&[
        "run",
        "--quiet",
        "--engine",
        "ballista://127.0.0.1:1",
        "--source",
        "fixtures/edge",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("ballista") || run.stderr.contains("127.0.0.1:1"), "{}", run.stderr);
    // Nothing was committed.
    assert!(!dir.path().join("out/current").exists());
}

/// A Ballista cluster of separate processes: this workspace's `junheng-scheduler` and
/// `junheng-executor`, on free ports of 127.0.0.1, reading S3 through the test server's
/// `AWS_*` variables (inherited). Killed when dropped.
#[cfg(feature = "ballista")]
struct Cluster {
    scheduler: std::process::Child,
    executors: Vec<std::process::Child>,
    port: u16,
    /// The processes' logs and work folders.
    work: tempfile::TempDir,
}

#[cfg(feature = "ballista")]
impl Cluster {
    fn start(executors: usize) -> Cluster {
        use std::process::{Command, Stdio};
        let work = tempfile::tempdir().unwrap();
        let log = |name: &str| Stdio::from(std::fs::File::create(work.path().join(name)).unwrap());
        let port = crate::common::free_port();
        // Executors that stop beating are declared lost after 10 s (upstream: 180 s).
        let scheduler = Command::new(env!("CARGO_BIN_EXE_junheng-scheduler"))
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1", "--bind-port", &port.to_string()])
            .args(["--executor-timeout-seconds", "10", "--expire-dead-executor-interval-seconds", "2"])
            .stdout(log("scheduler.log"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        crate::common::wait_for_port(port, "the scheduler");
        let executors = (0..executors)
            .map(|i| {
                let free_port = crate::common::free_port;
                let (flight, grpc, health) = (free_port(), free_port(), free_port());
                let dir = work.path().join(format!("executor-{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                let child = Command::new(env!("CARGO_BIN_EXE_junheng-executor"))
                    .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                    .args(["--bind-port", &flight.to_string(), "--bind-grpc-port", &grpc.to_string()])
                    .args(["--bind-health-port", &health.to_string()])
                    .args(["--scheduler-host", "127.0.0.1", "--scheduler-port", &port.to_string()])
                    .args(["--vcores", "2", "--executor-heartbeat-interval-seconds", "2"])
                    .args(["--work-dir", dir.to_str().unwrap()])
                    .stdout(log(&format!("executor-{i}.log")))
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                crate::common::wait_for_port(flight, "an executor");
                child
            })
            .collect();
        Cluster { scheduler, executors, port, work }
    }

    /// How many tasks each executor has been given so far (from its log).
    fn tasks_run(&self) -> Vec<usize> {
        (0..self.executors.len())
            .map(|i| {
                let log =
                    std::fs::read_to_string(self.work.path().join(format!("executor-{i}.log"))).unwrap_or_default();
                log.lines().filter(|l| l.contains("Finished task")).count()
            })
            .collect()
    }
}

#[cfg(feature = "ballista")]
impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The marts of the committed version of an S3 output, downloaded to `dir/marts/…` (for
/// [`assert_same_marts`]); returns the committed run id.
#[cfg(feature = "ballista")]
async fn download_marts(url: &str, dir: &std::path::Path) -> String {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let loc = junheng::storage::open(url, false).unwrap();
    let pointer = crate::s3::pointer(&loc).await;
    let version = loc.child(&format!("{}/marts", pointer["prefix"].as_str().unwrap()));
    let objects: Vec<_> = loc.store.list(Some(&version)).try_collect().await.unwrap();
    let _ = std::fs::remove_dir_all(dir.join("marts"));
    for object in objects {
        let relative: Vec<String> =
            object.location.prefix_match(&version).unwrap().map(|p| p.as_ref().to_owned()).collect();
        let target = dir.join("marts").join(relative.join("/"));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, loc.store.get(&object.location).await.unwrap().bytes().await.unwrap()).unwrap();
    }
    pointer["run_id"].as_str().unwrap().to_owned()
}

/// A scheduler and two executors in processes of their own, the output on the S3 server: a
/// run of four counties in two county groups gives the local engine's marts row for row; an
/// executor killed with SIGKILL mid-run makes the next run either complete on the other
/// executor or fail with exit 2 within its job timeout, committing nothing — never hang.
/// (Ballista 55 resets the lost executor's stages and may never schedule them again: the
/// `--job-timeout` is what ends such a run.)
#[cfg(feature = "ballista")]
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_of_separate_processes_gives_the_local_marts_and_a_killed_executor_never_hangs_a_run() {
    use std::time::{Duration, Instant};
    let Some(endpoint) = crate::s3::endpoint() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let generated =
        junheng(&["generate", "national", "--counties", "4", "--years", "2", "--out", source.to_str().unwrap()]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let local = dir.path().join("local");
    // Two groups of two counties (each county has about 1 300 staging rows).
    let grouped = ["--transform-rows", "3000"];
    let args = |out: &str, extra: &[&str]| {
        let mut args = vec!["run", "--quiet", "--source", source.to_str().unwrap(), "--out"];
        args.push(out);
        args.extend(grouped);
        args.extend(extra.iter().copied());
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| junheng(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run(args(local.to_str().unwrap(), &[])).code, 0);

    let cluster = Cluster::start(2);
    let engine = format!("ballista://127.0.0.1:{}", cluster.port);
    let bucket = crate::s3::bucket(&endpoint, "junheng-cluster");
    let out = format!("s3://{bucket}/published");
    let started = Instant::now();
    let first = run(args(&out, &["--engine", &engine]));
    let took = started.elapsed();
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let downloaded = dir.path().join("cluster");
    let committed = download_marts(&out, &downloaded).await;
    assert_same_marts(&local, &downloaded, "a cluster of processes");
    let tasks = cluster.tasks_run();
    assert!(tasks.iter().all(|&n| n > 0), "both executors ran tasks: {tasks:?}");

    // Again, and one executor is killed halfway through.
    let mut cluster = cluster;
    let mut again = std::process::Command::new(env!("CARGO_BIN_EXE_junheng"))
        .args(args(&out, &["--engine", &engine, "--force", "--job-timeout", "40s"]))
        .current_dir(crate::common::repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(took / 2);
    let mut killed = cluster.executors.remove(0);
    killed.kill().unwrap();
    killed.wait().unwrap();
    // Bounded: the rest of the run, or one job's timeout and the failure after it.
    let limit = took * 3 + Duration::from_secs(120);
    while again.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = again.kill();
            panic!("the run hung after an executor was killed ({:?})", started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let output = again.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let committed = match output.status.code() {
        Some(0) => {
            // Completed on the other executor: the new version has the same marts.
            let second = download_marts(&out, &downloaded).await;
            assert_ne!(second, committed);
            assert_same_marts(&local, &downloaded, "after a killed executor");
            second
        }
        Some(2) => {
            assert!(stderr.contains("error:"), "{stderr}");
            // Nothing committed: the first run's version is still the one published, whole.
            assert_eq!(download_marts(&out, &downloaded).await, committed, "{stderr}");
            assert_same_marts(&local, &downloaded, "the version before the failed run");
            committed
        }
        other => panic!("exit {other:?}: {stderr}"),
    };
    eprintln!(
        "cluster: first run {:.1} s; with an executor killed at {:.1} s the run ended after {:.1} s with exit {:?}: {}",
        took.as_secs_f64(),
        (took / 2).as_secs_f64(),
        started.elapsed().as_secs_f64(),
        output.status.code(),
        stderr.lines().find(|l| l.starts_with("error:")).unwrap_or("")
    );

    // The last executor paused (SIGSTOP), so no job can finish: the job timeout ends the run.
    let signal = |signal: &str, pid: u32| {
        std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    };
    let last = cluster.executors[0].id();
    signal("-STOP", last);
    let started = Instant::now();
    let stalled = run(args(&out, &["--engine", &engine, "--force", "--job-timeout", "5s"]));
    let stalled_for = started.elapsed();
    signal("-CONT", last);
    assert_eq!(stalled.code, 2, "{}", stalled.stderr);
    assert!(
        stalled.stderr.contains("did not finish within 5s")
            && stalled.stderr.contains("nothing of this run is published"),
        "{}",
        stalled.stderr
    );
    // The 5 s timeout, plus the run's local ingest before it and its failure after (seconds);
    // far below what a hang would take.
    assert!(stalled_for < Duration::from_secs(90), "{stalled_for:?}");
    assert_eq!(download_marts(&out, &downloaded).await, committed, "the stalled run committed nothing");
    eprintln!("cluster: with every executor paused the run failed after {:.1} s", stalled_for.as_secs_f64());
}
