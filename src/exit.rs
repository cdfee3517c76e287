//! The one table of exit codes: how a command ends, the code it exits with, and what the code
//! means to a scheduler, a script or a person reading `--help`. The run ledger records the code,
//! `junheng schedule` reads its children's codes with it, and the binary exits with it.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Everything read, nothing rejected beyond tolerance (or nothing changed).
    Success,
    /// Finished, but rows or whole files were rejected beyond the pipeline's tolerance; what
    /// passed is published.
    Rejected,
    /// A configuration, input or I/O error stopped the command; nothing new is published.
    Failed,
    /// What was asked for is not in the output (a county, year, stage, figure or item that
    /// `explain` or `export` cannot find, or no committed run yet); nothing was changed.
    NotFound,
}

/// Every status with its code and meaning, in code order.
pub const EXIT_CODES: [(ExitStatus, u8, &str); 4] = [
    (ExitStatus::Success, 0, "success"),
    (
        ExitStatus::Rejected,
        1,
        "the run finished but rows (or whole files) were rejected beyond the pipeline's tolerance ([quality] max_rejected_rows, default 0); what passed is published, the ledger says what was not",
    ),
    (ExitStatus::Failed, 2, "configuration, input or I/O error; nothing new is published"),
    (
        ExitStatus::NotFound,
        3,
        "what was asked for is not published (explain or export found no such county, year, stage, figure or item; or the output has no committed run yet)",
    ),
];

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        EXIT_CODES.iter().find(|(s, _, _)| *s == self).map_or(2, |(_, c, _)| *c)
    }

    /// The status a process exit code stands for (None for codes junheng never exits with).
    pub fn from_code(code: i32) -> Option<ExitStatus> {
        EXIT_CODES.iter().find(|(_, c, _)| i32::from(*c) == code).map(|(s, _, _)| *s)
    }

    /// What a finished `junheng run` with this status did, in a few words (for the scheduler's log).
    pub fn run_outcome(self) -> &'static str {
        match self {
            ExitStatus::Success => "published (or nothing changed)",
            ExitStatus::Rejected => "published with rejections",
            ExitStatus::Failed => "failed; nothing new published",
            ExitStatus::NotFound => "found nothing to do it on",
        }
    }
}

/// The EXIT STATUS section under every command's `--help`.
pub fn help() -> String {
    let mut out = String::from("EXIT STATUS:\n");
    for (_, code, meaning) in EXIT_CODES {
        out.push_str(&format!("  {code}  {meaning}\n"));
    }
    out.push_str("\nLog detail: set RUST_LOG=junheng=debug (or info, warn).");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_documented() {
        for (status, code, _) in EXIT_CODES {
            assert_eq!(status.code(), code);
            assert_eq!(ExitStatus::from_code(i32::from(code)), Some(status));
        }
        assert_eq!(ExitStatus::from_code(137), None);
        assert!(help().contains("  1  the run finished"));
    }
}
