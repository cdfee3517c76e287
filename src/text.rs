//! Text helpers that extract and validate both use: how a cell's text is folded before it is
//! compared, and which texts mean "not reported". They sit below both stages so that neither
//! reaches into the other for them.

use std::borrow::Cow;

/// The null markers every submission may use: the cell was not reported (never zero).
pub const NULL_MARKERS: &[&str] = &["", "-", "--", "—", "——", "/", "…", "……", "...", "无"];

/// Fold full-width ASCII (`１２３`, `，`, `％`, `（`) to half-width and ideographic or no-break
/// spaces to plain spaces, then trim. Borrowed when nothing changes.
pub fn fold(text: &str) -> Cow<'_, str> {
    let needs = text.chars().any(|c| matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{3000}' | '\u{00A0}' | '\u{FEFF}'));
    if !needs {
        return Cow::Borrowed(text.trim());
    }
    let folded: String = text
        .chars()
        .filter(|&c| c != '\u{FEFF}')
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' | '\u{00A0}' => ' ',
            _ => c,
        })
        .collect();
    Cow::Owned(folded.trim().to_owned())
}

/// Whether a folded cell means "not reported".
pub fn is_null(folded: &str, extra_markers: &[String]) -> bool {
    NULL_MARKERS.contains(&folded) || extra_markers.iter().any(|m| m == folded)
}

/// `text` as part of a file name: letters (any script), digits, `-` and `_` are kept, anything
/// else (a `/`, `..`, a space, a quote) becomes `_`, and a name that had to change gets a short
/// digest of the original so that two codes never share a file. A code from a cell can thus
/// never choose a folder or escape the one it is written into.
pub fn file_name_part(text: &str) -> String {
    let kept: String =
        text.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if kept == text && !kept.is_empty() && kept.len() <= 100 {
        return kept;
    }
    use sha2::Digest as _;
    let digest = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..4]);
    let short: String = kept.chars().take(60).collect();
    format!("{short}-{digest}")
}

#[cfg(test)]
mod file_name_tests {
    use super::file_name_part;

    #[test]
    fn a_code_cannot_name_a_folder_or_escape_one() {
        assert_eq!(file_name_part("231182"), "231182");
        assert_eq!(file_name_part("五大连池_2018"), "五大连池_2018");
        let escaped = file_name_part("../../etc/cron.d/x");
        assert!(!escaped.contains('/') && !escaped.contains(".."), "{escaped}");
        assert_ne!(file_name_part("a/b"), file_name_part("a_b"));
        assert_ne!(file_name_part(""), "");
    }
}
