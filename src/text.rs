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
