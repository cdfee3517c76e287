//! Units a quantity is stated in: what a header suffix or a unit row says, and what converts to
//! the canonical unit of a column (元, m², persons).

use super::Kind;

/// The unit a quantity is stated in. Headers may carry it (`(万元)`), a pipeline may declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// 元 (yuan), the canonical money unit.
    Yuan,
    /// 千元 = 1 000 元.
    ThousandYuan,
    /// 万元 = 10 000 元.
    TenThousandYuan,
    /// m², the canonical area unit.
    SquareMetre,
    /// 公顷 = 10 000 m².
    Hectare,
    /// 亩 = 10 000 / 15 m².
    Mu,
    /// 万人 and similar "×10 000" counts, used by aggregate statistics.
    TenThousand,
    /// A plain count (人, 所, 台, 册, 个, 间, 套 …): no conversion.
    Count,
    /// A percentage: `98.4` means 0.984.
    Percent,
}

impl Unit {
    /// Recognise a unit written in a header suffix or a unit row (`万元`, `平方米`, `m2`, `亩` …).
    pub fn parse(text: &str) -> Option<Unit> {
        let t = text.trim().trim_start_matches("单位").trim_start_matches([':', '：']).trim();
        Some(match t {
            "元" | "yuan" | "CNY" | "RMB" => Unit::Yuan,
            "千元" => Unit::ThousandYuan,
            "万元" => Unit::TenThousandYuan,
            "平方米" | "m2" | "m²" | "㎡" | "平米" => Unit::SquareMetre,
            "公顷" | "ha" => Unit::Hectare,
            "亩" => Unit::Mu,
            "万人" | "万" | "万册" | "万台" => Unit::TenThousand,
            "%" | "％" | "百分比" => Unit::Percent,
            "人" | "所" | "个" | "台" | "册" | "间" | "套" | "班" | "台套" | "名" | "份" | "张" | "件" => {
                Unit::Count
            }
            _ => return None,
        })
    }

    /// The Chinese name of the unit.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Yuan => "元",
            Unit::ThousandYuan => "千元",
            Unit::TenThousandYuan => "万元",
            Unit::SquareMetre => "平方米",
            Unit::Hectare => "公顷",
            Unit::Mu => "亩",
            Unit::TenThousand => "万",
            Unit::Count => "个",
            Unit::Percent => "%",
        }
    }

    /// Whether a value stated in this unit can be converted to the column's canonical unit.
    pub fn fits(self, kind: Kind) -> bool {
        match kind {
            Kind::Money => matches!(self, Unit::Yuan | Unit::ThousandYuan | Unit::TenThousandYuan),
            Kind::Area => matches!(self, Unit::SquareMetre | Unit::Hectare | Unit::Mu),
            Kind::Count => matches!(self, Unit::Count | Unit::TenThousand),
            _ => false,
        }
    }
}
