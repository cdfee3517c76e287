//! Schedules: run pipelines on the cron expression in their `[schedule]`, one run at a time per
//! pipeline, each as a child `junheng run` process (a run that crashes cannot take the scheduler
//! with it), logging when each run starts and how it ended.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::pipeline::{Pipeline, parse_cron};

/// A pipeline with its schedule.
struct Scheduled {
    path: PathBuf,
    name: String,
    cron: Cron,
    next: DateTime<Utc>,
    running: Option<tokio::process::Child>,
}

/// Run the pipelines on their schedules until `until` (or forever), calling `log` with a line for
/// every start, skip and finish. `exe` is the junheng binary that runs each pipeline.
pub async fn serve(
    paths: &[PathBuf],
    exe: PathBuf,
    until: Option<DateTime<Utc>>,
    log: &mut dyn FnMut(String),
) -> Result<()> {
    let mut pipelines = Vec::new();
    for path in paths {
        let pipeline = Pipeline::load(path)?;
        let expression = pipeline.schedule.clone().ok_or_else(|| Error::Pipeline {
            path: path.clone(),
            message: "has no [schedule] cron = \"…\"; add one (e.g. cron = \"0 2 * * *\" for 02:00 every day)".into(),
        })?;
        let cron = parse_cron(&expression).map_err(|message| Error::Pipeline { path: path.clone(), message })?;
        let next = next_after(&cron, Utc::now(), path)?;
        log(format!("{} scheduled \"{expression}\"; next run at {}", pipeline.name, next.to_rfc3339()));
        pipelines.push(Scheduled { path: path.clone(), name: pipeline.name, cron, next, running: None });
    }
    if pipelines.is_empty() {
        return Err(Error::Usage("nothing to schedule: give one or more pipeline files".into()));
    }
    loop {
        let now = Utc::now();
        for p in &mut pipelines {
            // A finished run is reported once.
            if let Some(child) = p.running.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let code = status.code().map_or("killed".to_owned(), |c| c.to_string());
                let meaning =
                    status.code().and_then(ExitStatus::from_code).map_or("ended abnormally", ExitStatus::run_outcome);
                log(format!("{} run finished: exit {code} — {meaning}", p.name));
                p.running = None;
            }
            if p.next > now {
                continue;
            }
            if p.running.is_some() {
                log(format!("{} is still running; skipping the run due at {}", p.name, p.next.to_rfc3339()));
            } else {
                match tokio::process::Command::new(&exe)
                    .arg("run")
                    .arg(&p.path)
                    .arg("--quiet")
                    .kill_on_drop(false)
                    .spawn()
                {
                    Ok(child) => {
                        log(format!("{} run started (pid {})", p.name, child.id().unwrap_or(0)));
                        p.running = Some(child);
                    }
                    Err(e) => log(format!("{} could not start: {e}", p.name)),
                }
            }
            p.next = next_after(&p.cron, now, &p.path)?;
        }
        if until.is_some_and(|u| now >= u) {
            // Let runs in flight finish, and report them, before returning.
            for p in &mut pipelines {
                if let Some(mut child) = p.running.take() {
                    let status =
                        child.wait().await.map_err(|e| Error::Worker(format!("waiting for {}: {e}", p.name)))?;
                    log(format!(
                        "{} run finished: exit {}",
                        p.name,
                        status.code().map_or("killed".to_owned(), |c| c.to_string())
                    ));
                }
            }
            return Ok(());
        }
        let soonest = pipelines.iter().map(|p| p.next).min().unwrap_or(now);
        let wait = (soonest - Utc::now()).to_std().unwrap_or_default().min(Duration::from_millis(500));
        tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
    }
}

fn next_after(cron: &Cron, after: DateTime<Utc>, path: &std::path::Path) -> Result<DateTime<Utc>> {
    cron.find_next_occurrence(&after, false)
        .map_err(|e| Error::Pipeline { path: path.into(), message: format!("schedule: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_with_and_without_seconds() {
        let at = DateTime::parse_from_rfc3339("2026-11-30T01:02:03Z").unwrap().with_timezone(&Utc);
        let nightly = parse_cron("0 2 * * *").unwrap();
        assert_eq!(nightly.find_next_occurrence(&at, false).unwrap().to_rfc3339(), "2026-11-30T02:00:00+00:00");
        let often = parse_cron("*/10 * * * * *").unwrap();
        assert_eq!(often.find_next_occurrence(&at, false).unwrap().to_rfc3339(), "2026-11-30T01:02:10+00:00");
        assert!(parse_cron("every night").is_err());
    }
}
