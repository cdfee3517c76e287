//! How the report writes numbers and verdicts: three decimals for a CV, a percentage with one,
//! thousands grouped, 达标 / 未达标, 小学 / 初中. Every function takes the mart's value as it was
//! published (None when not reported) and gives the text a page shows.

use super::svg;
use super::words::Language;

/// Three decimals, or — when there is no value.
pub fn fmt3(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.3}"))
}

/// A fraction as a percentage with one decimal (0.984 → 98.4%).
pub fn pct(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

/// A whole number with thousands grouped (a count read as a double is rounded).
pub fn int(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| svg::group_thousands(v.round() as i64))
}

/// A count with thousands grouped.
pub fn count(value: Option<i64>) -> String {
    int(value.map(|v| v as f64))
}

/// Staff: persons (whole, thousands grouped), or full-time equivalents with up to two decimals
/// (`62.5`) when the source counts them so.
pub fn staff(value: Option<f64>) -> String {
    match value {
        // Hundredths, counted as whole numbers so that 62.5 is not 62.49999….
        Some(v) if (v * 100.0).round() % 100.0 != 0.0 => {
            let hundredths = (v.abs() * 100.0).round() as i64;
            let sign = if v < 0.0 { "-" } else { "" };
            let fraction = format!("{:02}", hundredths % 100);
            format!("{sign}{}.{}", svg::group_thousands(hundredths / 100), fraction.trim_end_matches('0'))
        }
        _ => int(value),
    }
}

/// An area or amount with up to two decimals, trailing zeros dropped.
pub fn decimal(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    })
}

/// A value with `decimals` decimals, or —.
pub fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or("—".into(), |v| format!("{v:.decimals$}"))
}

/// A value as the mart holds it (`0.65`), or nothing.
pub fn plain<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// Money in 元 shown in 万元 with one decimal, or —.
pub fn ten_thousands(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1}", v / 10_000.0))
}

/// How the report writes amounts: in 万元 when they are yuan (as a county report does), else in
/// whole units of the declared currency, named by its code — never converted, never called 元 —
/// in the words of the report's language.
#[derive(Debug, Clone, Copy)]
pub struct Money {
    /// The currency of every amount.
    pub currency: &'static crate::contract::Currency,
    /// The language amounts are written in.
    pub language: Language,
}

impl Money {
    /// Amounts in a currency, written in Chinese.
    pub fn new(currency: &'static crate::contract::Currency) -> Money {
        Money { currency, language: Language::Chinese }
    }

    /// The currency of a session's amounts ([`crate::marts::currency`]), written in Chinese.
    pub async fn of(ctx: &datafusion::prelude::SessionContext) -> crate::error::Result<Money> {
        Ok(Money::new(crate::marts::currency(ctx).await?))
    }

    /// The same amounts written in another language.
    pub fn in_language(self, language: Language) -> Money {
        Money { language, ..self }
    }

    /// Whether the amounts are yuan.
    pub fn is_yuan(self) -> bool {
        self.currency.is_yuan()
    }

    /// What a column of amounts is headed with: 万元, or the currency's code.
    pub fn unit(self) -> &'static str {
        if self.is_yuan() { self.language.words().ten_thousand_yuan } else { self.currency.code }
    }

    /// An amount in [`Money::unit`], or —.
    pub fn amount(self, value: Option<f64>) -> String {
        if self.is_yuan() {
            ten_thousands(value)
        } else {
            value.map_or("—".into(), |v| svg::group_thousands(v.round() as i64))
        }
    }

    /// An amount inside a sentence of the report: `15.6万元`, `156,000 yuan` (to the same
    /// thousand yuan), or `827 USD`.
    pub fn in_words(self, value: f64) -> String {
        match (self.is_yuan(), self.language) {
            (true, Language::Chinese) => format!("{:.1}万元", value / 10_000.0),
            (true, Language::English) => {
                format!("{} yuan", svg::group_thousands((value / 1_000.0).round() as i64 * 1_000))
            }
            (false, _) => format!("{} {}", svg::group_thousands(value.round() as i64), self.currency.code),
        }
    }

    /// An amount in the run summary, to the cent where it is not yuan: `15.6万元`, or
    /// `USD 826.53`.
    pub fn exact(self, value: f64) -> String {
        if self.is_yuan() { self.in_words(value) } else { format!("{} {value:.2}", self.currency.code) }
    }

    /// The unit of whole amounts: 元, or the currency's code.
    pub fn unit_of_amounts(self) -> &'static str {
        if self.is_yuan() { self.language.words().yuan } else { self.currency.code }
    }

    /// An amount per pupil, whole: `6,400 元`, or `6,400 USD`.
    pub fn per_pupil(self, value: Option<f64>) -> String {
        let unit = self.unit_of_amounts();
        value.map_or("—".into(), |v| format!("{} {unit}", svg::group_thousands(v.round() as i64)))
    }
}

/// A value of `quality_assessment` in its `value_unit`: a CV with three decimals, a share or
/// ratio as a percentage, an amount per pupil whole in its currency, a count of files as it is.
pub fn assessment_value(value_unit: Option<&str>, value: Option<f64>, money: Money) -> String {
    match value_unit {
        Some("cv") => fmt3(value),
        Some("share" | "ratio") => pct(value),
        Some("yuan_per_pupil") => money.per_pupil(value),
        _ => int(value),
    }
}

/// A verdict: passed, failed, or not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 达标.
    Pass,
    /// 未达标.
    Fail,
    /// Not known (—).
    Unknown,
}

impl Verdict {
    /// The verdict of a boolean a mart publishes.
    pub fn of(value: Option<bool>) -> Verdict {
        match value {
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Fail,
            None => Verdict::Unknown,
        }
    }

    /// Its CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "na",
        }
    }

    /// Its words in Chinese.
    pub fn label(self) -> &'static str {
        super::words::ZH.verdict(self)
    }

    /// Its words in a report's language.
    pub fn label_in(&self, words: &super::words::Words) -> &'static str {
        words.verdict(*self)
    }
}

/// The Chinese name of a stage (or of `nine_year`, `all`).
pub fn stage_zh(stage: &str) -> &str {
    super::words::ZH.stage(stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YUAN: Money = Money { currency: &crate::contract::CURRENCIES[0], language: Language::Chinese };

    #[test]
    fn staff_are_whole_persons_or_full_time_equivalents() {
        assert_eq!(staff(Some(1234.0)), "1,234");
        assert_eq!(staff(Some(1234.5)), "1,234.5");
        assert_eq!(staff(Some(62.25)), "62.25");
        assert_eq!(staff(Some(62.004)), "62");
        // Vacant posts are negative when a county employs more staff than its posts.
        assert_eq!(staff(Some(-0.5)), "-0.5");
        assert_eq!(staff(None), "—");
    }

    #[test]
    fn figures_are_written_as_the_county_report_writes_them() {
        assert_eq!(fmt3(Some(0.5482)), "0.548");
        assert_eq!(pct(Some(0.984)), "98.4%");
        assert_eq!(int(Some(12515.0)), "12,515");
        assert_eq!(decimal(Some(887483.40)), "887483.4");
        assert_eq!(decimal(Some(2.0)), "2");
        assert_eq!(plain(Some(0.65)), "0.65");
        assert_eq!(ten_thousands(Some(71_080_000.0)), "7108.0");
        assert_eq!((fmt3(None), plain::<f64>(None)), ("—".into(), String::new()));
        assert_eq!(Verdict::of(Some(false)).label(), "未达标");
        assert_eq!(assessment_value(Some("cv"), Some(0.4512), YUAN), "0.451");
        assert_eq!(assessment_value(Some("ratio"), Some(0.9848), YUAN), "98.5%");
        assert_eq!(assessment_value(Some("yuan_per_pupil"), Some(6400.0), YUAN), "6,400 元");
        let dollars = Money::new(crate::contract::Currency::of("USD").unwrap());
        assert_eq!(assessment_value(Some("yuan_per_pupil"), Some(6400.0), dollars), "6,400 USD");
        assert_eq!(
            (dollars.in_words(826.53), dollars.unit(), dollars.amount(Some(826.53))),
            ("827 USD".into(), "USD", "827".into())
        );
        assert_eq!((YUAN.in_words(155_820_000.0), YUAN.unit()), ("15582.0万元".into(), "万元"));
        assert_eq!(assessment_value(Some("files"), Some(2.0), YUAN), "2");
        // In English, yuan in a sentence are whole thousands (the 万元 figure's precision).
        let english = YUAN.in_language(Language::English);
        assert_eq!((english.in_words(155_820_000.0), english.unit()), ("155,820,000 yuan".into(), "10,000 yuan"));
        assert_eq!(english.in_words(1_234_567.0), "1,235,000 yuan");
        assert_eq!(assessment_value(Some("yuan_per_pupil"), Some(6400.0), english), "6,400 yuan");
        assert_eq!(Verdict::of(Some(true)).label(), "达标");
    }
}
