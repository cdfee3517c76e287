//! The names of the assessment items and balance indicators in the report's language: the marts
//! publish them in Chinese (`item_zh`, `indicator_name`); an English page takes them from the
//! catalogues of `sql/reference/` (`ref_assessment_items.item_en`, `ref_indicators.name_en`),
//! read once per report rather than once per county.

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use serde::Deserialize;

use super::words::Language;
use crate::error::Result;
use crate::marts;

/// The catalogue's names in one language (empty for Chinese: the marts' own names are used).
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// (item, stage) → (the item's words, the data it needs).
    items: HashMap<(String, String), (String, String)>,
    /// Indicator → its name.
    indicators: HashMap<String, String>,
}

#[derive(Deserialize)]
struct ItemName {
    item: String,
    stage: String,
    item_en: Option<String>,
    inputs_en: Option<String>,
}

#[derive(Deserialize)]
struct IndicatorName {
    indicator: String,
    name_en: Option<String>,
}

impl Names {
    /// The names a report in `language` needs, from the session's reference tables.
    pub async fn read(ctx: &SessionContext, language: Language) -> Result<Names> {
        if language == Language::Chinese {
            return Ok(Names::default());
        }
        let items: Vec<ItemName> =
            marts::read(ctx, "select item, stage, item_en, inputs_en from ref_assessment_items").await?;
        let indicators: Vec<IndicatorName> = marts::read(ctx, "select indicator, name_en from ref_indicators").await?;
        Ok(Names {
            // An empty cell of the catalogue is no name: the mart's stands.
            items: items
                .into_iter()
                .filter_map(|i| {
                    let name = i.item_en.filter(|n| !n.is_empty())?;
                    Some(((i.item, i.stage), (name, i.inputs_en.unwrap_or_default())))
                })
                .collect(),
            indicators: indicators
                .into_iter()
                .filter_map(|i| Some((i.indicator, i.name_en.filter(|n| !n.is_empty())?)))
                .collect(),
        })
    }

    /// An item's words: the catalogue's, or the mart's when the catalogue has none.
    pub fn item<'a>(&'a self, item: &str, stage: &str, published: &'a str) -> &'a str {
        self.items.get(&(item.to_owned(), stage.to_owned())).map_or(published, |(name, _)| name)
    }

    /// The data an item needs: the catalogue's, or the mart's.
    pub fn inputs<'a>(&'a self, item: &str, stage: &str, published: &'a str) -> &'a str {
        self.items.get(&(item.to_owned(), stage.to_owned())).map_or(published, |(_, inputs)| inputs)
    }

    /// An indicator's name: the catalogue's, or the mart's.
    pub fn indicator<'a>(&'a self, indicator: &str, published: &'a str) -> &'a str {
        self.indicators.get(indicator).map_or(published, String::as_str)
    }
}
