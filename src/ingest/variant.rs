//! Variants: everything that changes the text of a notice apart from the person's own data —
//! brand × locale × set of leaked fields. Legal reviews one preview per variant; `check` and
//! `preview` count how many people get each.

use std::collections::HashMap;

use crate::config::Config;
use crate::ingest::FieldSet;
use crate::ingest::follow_up::FollowUpVariant;

/// One distinct notice text (up to the person's name and reference number).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variant {
    pub brand: String,
    pub locale: String,
    pub fields: FieldSet,
    /// For a campaign that follows an earlier one: the class and the fields added and
    /// withdrawn, which the follow-up wording states.
    pub follow_up: Option<FollowUpVariant>,
}

impl Variant {
    /// A short, stable, file-name-safe code: `kaede-ja-0007f` (the field bits in hex).
    pub fn code(&self) -> String {
        let code = format!("{}-{}-{:05x}", self.brand, self.locale, self.fields.0);
        match &self.follow_up {
            None => code,
            Some(f) => format!(
                "{code}-{}-{:05x}-{:05x}",
                f.kind.as_str().replace('_', ""),
                f.added.0,
                f.corrected.0
            ),
        }
    }

    /// The leaked fields' labels joined for display: `氏名・性別・生年月日`.
    pub fn field_labels(&self, config: &Config) -> Vec<String> {
        self.fields
            .iter()
            .filter_map(|i| config.fields.get(i))
            .map(|f| f.label.clone())
            .collect()
    }
}

/// Recipients per variant, counted in one streaming pass.
#[derive(Debug, Default, Clone)]
pub struct VariantCounts {
    // Keyed by field set first, then a short list of (brand, locale): no allocation per row.
    counts: HashMap<FieldSet, Vec<Entry>>,
}

type Entry = (String, String, Option<FollowUpVariant>, u64);

impl VariantCounts {
    pub fn add(&mut self, brand: &str, locale: &str, fields: FieldSet) {
        self.add_follow_up(brand, locale, fields, None);
    }

    /// [`VariantCounts::add`] for a person of a follow-up campaign.
    pub fn add_follow_up(
        &mut self,
        brand: &str,
        locale: &str,
        fields: FieldSet,
        follow_up: Option<FollowUpVariant>,
    ) {
        let entries = self.counts.entry(fields).or_default();
        match entries
            .iter_mut()
            .find(|(b, l, f, _)| b == brand && l == locale && *f == follow_up)
        {
            Some((_, _, _, n)) => *n += 1,
            None => entries.push((brand.to_string(), locale.to_string(), follow_up, 1)),
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().flatten().map(|(_, _, _, n)| n).sum()
    }

    pub fn len(&self) -> usize {
        self.counts.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Variants with most recipients first (ties in variant order, so output is stable).
    pub fn by_count(&self) -> Vec<(Variant, u64)> {
        let mut v: Vec<_> = self
            .counts
            .iter()
            .flat_map(|(fields, entries)| {
                entries.iter().map(|(brand, locale, follow_up, n)| {
                    (
                        Variant {
                            brand: brand.clone(),
                            locale: locale.clone(),
                            fields: *fields,
                            follow_up: *follow_up,
                        },
                        *n,
                    )
                })
            })
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}
