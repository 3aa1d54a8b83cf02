//! Review groups: the variants of a campaign gathered by what changes the wording of a notice,
//! so that legal reads one complete notice per group and a table of the group's field
//! combinations instead of one notice per combination.
//!
//! With nine independent flags a list has up to 511 field combinations per brand and locale; the
//! notices of one brand and locale differ only in the numbered list of fields — except where the
//! templates print something else for some of them. The shipped templates print the passport
//! passage (`incident.passport`) or the other one (`incident.no_passport`) by `passport_leaked`,
//! and the English one says "1 item" but "3 items". So the key of a group is brand × locale ×
//! passport passage (× follow-up kind, see [`GroupKey::follow_up`]), and within a key the notices
//! are *compared*: a combination whose text outside its list of fields differs from the group's
//! representative (the plural above, or a custom template testing `leaked.住所`) starts a
//! group of its own, a second *wording* of the key. The grouping thus never hides a difference
//! the templates make: when in doubt it shows one group more.
//!
//! "Outside its list of fields" is decided line by line: a line that consists of one listed
//! field's label and nothing else but numbering and punctuation (`(3)生年月日`, `(3) Date of
//! birth`) is a list item and is left out; the other lines must be the same, except that a line
//! may differ by the number of listed fields (`以下の3項目` / `以下の5項目`).

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::config::Config;
use crate::ingest::FieldSet;
use crate::ingest::variant::Variant;
use crate::render::notice::PASSPORT_FIELDS;
use crate::review::preview::VariantPreview;

/// What, apart from the list of fields itself, changes the wording of a notice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub brand: String,
    pub locale: String,
    /// Whether the notice prints the passport passage (`incident.passport`) rather than
    /// `incident.no_passport`.
    pub passport: bool,
    /// The follow-up kind (new, added, corrected, not reached) of a campaign that follows an
    /// earlier one. Always `None` until campaigns can follow earlier ones; then the variant
    /// carries its kind and [`key_of`] copies it here, and the page shows it.
    pub follow_up: Option<String>,
}

impl GroupKey {
    /// A short, file-name-safe code: `kaede-ja-passport`, `umineko-en-nopassport`.
    pub fn code(&self) -> String {
        let mut code = format!(
            "{}-{}-{}",
            self.brand,
            self.locale,
            if self.passport {
                "passport"
            } else {
                "nopassport"
            }
        );
        if let Some(kind) = &self.follow_up {
            code.push('-');
            code.push_str(kind);
        }
        code
    }
}

/// One group of the review: the variants that read the same apart from their list of fields.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: GroupKey,
    /// 1 for the key's largest group; 2, 3… for combinations whose text outside the list
    /// differs from it (see the module documentation).
    pub wording: usize,
    /// Indexes into the previews the group was made from, most recipients first; the first is
    /// the representative, whose complete notice the page shows.
    pub members: Vec<usize>,
    /// Recipients of all the group's combinations.
    pub total: u64,
    /// The representative's `.eml`, once written.
    pub file: Option<PathBuf>,
}

impl Group {
    /// `kaede-ja-nopassport`, or `kaede-en-nopassport-w2` for a second wording.
    pub fn code(&self) -> String {
        let code = self.key.code();
        if self.wording > 1 {
            format!("{code}-w{}", self.wording)
        } else {
            code
        }
    }

    pub fn representative(&self) -> usize {
        self.members[0]
    }
}

/// The group key of a variant.
pub fn key_of(variant: &Variant, passport_bits: FieldSet) -> GroupKey {
    GroupKey {
        brand: variant.brand.clone(),
        locale: variant.locale.clone(),
        passport: variant.fields.0 & passport_bits.0 != 0,
        follow_up: variant.follow_up.map(|f| f.kind.as_str().to_string()),
    }
}

/// The catalogue's passport fields as a set.
pub fn passport_bits(config: &Config) -> FieldSet {
    let mut bits = FieldSet::default();
    for key in PASSPORT_FIELDS {
        if let Some(i) = config.field_index(key) {
            bits.insert(i);
        }
    }
    bits
}

/// Groups `previews` (most recipients first, as [`crate::review::preview::preview_variants`]
/// returns them). `labels(locale)` gives the field labels as that locale's notices print them.
/// Groups come most recipients first.
pub fn group<'a>(
    previews: &[VariantPreview],
    passport_bits: FieldSet,
    labels: impl Fn(&str) -> Option<&'a [String]>,
) -> Result<Vec<Group>> {
    struct Open {
        group: Group,
        subject: Vec<String>,
        body: Vec<String>,
        listed: usize,
    }
    let mut open: Vec<Open> = Vec::new();
    for (index, p) in previews.iter().enumerate() {
        let key = key_of(&p.variant, passport_bits);
        let Some(labels) = labels(&p.variant.locale) else {
            bail!(
                "variant {}: no templates for locale {:?}",
                p.variant.code(),
                p.variant.locale
            );
        };
        let listed: Vec<&str> = p
            .variant
            .fields
            .iter()
            .filter_map(|i| labels.get(i).map(String::as_str))
            .collect();
        let subject = outside_list(&p.subject, &listed);
        let body = outside_list(&p.body, &listed);
        let n = listed.len();
        let same = open.iter_mut().find(|o| {
            o.group.key == key
                && same_wording(&o.subject, o.listed, &subject, n)
                && same_wording(&o.body, o.listed, &body, n)
        });
        match same {
            Some(o) => {
                o.group.members.push(index);
                o.group.total += p.count;
            }
            None => {
                let wording = open.iter().filter(|o| o.group.key == key).count() + 1;
                open.push(Open {
                    group: Group {
                        key,
                        wording,
                        members: vec![index],
                        total: p.count,
                        file: None,
                    },
                    subject,
                    body,
                    listed: n,
                });
            }
        }
    }
    let mut groups: Vec<Group> = open.into_iter().map(|o| o.group).collect();
    groups.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.wording.cmp(&b.wording))
    });
    // Number the wordings of a key in the order the page shows them.
    let mut seen: std::collections::HashMap<GroupKey, usize> = Default::default();
    for g in &mut groups {
        let n = seen.entry(g.key.clone()).or_default();
        *n += 1;
        g.wording = *n;
    }
    Ok(groups)
}

/// The lines of `text` that are not items of its list of fields.
fn outside_list(text: &str, listed: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|line| !is_list_item(line, listed))
        .map(str::to_string)
        .collect()
}

/// Whether `line` is one listed label with nothing else but a short numbering (one number, at
/// most the count of listed fields), punctuation and spaces. `電話番号:0120-000-101` is not an
/// item of a list that holds 電話番号.
fn is_list_item(line: &str, listed: &[&str]) -> bool {
    listed.iter().any(|label| {
        if label.is_empty() || !line.contains(label) {
            return false;
        }
        let rest = line.replacen(label, "", 1);
        let rest = rest.trim();
        let numbers: Vec<&str> = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .collect();
        rest.chars().count() <= MAX_NUMBERING
            && !rest.chars().any(char::is_alphabetic)
            && match numbers[..] {
                [] => true,
                [n] => n
                    .parse::<usize>()
                    .is_ok_and(|n| (1..=listed.len()).contains(&n)),
                _ => false,
            }
    })
}

/// The longest numbering a list item may carry besides its label: `(10) `, `　・`, `10. `.
const MAX_NUMBERING: usize = 6;

/// Whether two texts outside their lists read the same: line for line equal, or equal once
/// each side's count of listed fields is taken out.
fn same_wording(a: &[String], a_listed: usize, b: &[String], b_listed: usize) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || without_count(x, a_listed) == without_count(y, b_listed))
}

/// `line` with every standalone run of ASCII digits equal to `n` replaced by `#`.
fn without_count(line: &str, n: usize) -> String {
    let n = n.to_string();
    let mut out = String::with_capacity(line.len());
    let mut digits = String::new();
    for c in line.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            out.push_str(if digits == n { "#" } else { &digits });
            digits.clear();
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: [&str; 5] = ["氏名", "性別", "生年月日", "パスポート番号", "電話番号"];

    fn preview(brand: &str, fields: u64, count: u64, body: &str) -> VariantPreview {
        VariantPreview {
            variant: Variant {
                brand: brand.into(),
                locale: "ja".into(),
                fields: FieldSet(fields),
                follow_up: None,
            },
            count,
            file: None,
            subject: format!("お知らせ({brand})"),
            body: body.into(),
        }
    }

    /// The notice the shipped Japanese template writes, reduced to what matters here.
    fn ja_body(fields: u64, extra: &str) -> String {
        let listed: Vec<&str> = (0..LABELS.len())
            .filter(|i| fields >> i & 1 == 1)
            .map(|i| LABELS[i])
            .collect();
        let mut body = format!(
            "2026年11月3日、不正アクセスが判明しました。\n以下の{}項目の情報が流出したおそれがあります。\n",
            listed.len()
        );
        for (i, l) in listed.iter().enumerate() {
            body.push_str(&format!("({}){l}\n", i + 1));
        }
        body.push_str(extra);
        body.push_str("\n受付番号:ABCD-EFGH-123\n");
        body
    }

    fn groups_of(previews: &[VariantPreview]) -> Vec<Group> {
        let labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
        group(previews, FieldSet(0b1000), |_| Some(&labels[..])).unwrap()
    }

    #[test]
    fn combinations_that_differ_only_in_their_list_share_a_group() {
        // 3 fields on 3 November: the count 3 and the date's 3 must not be confused.
        let previews = vec![
            preview("kaede", 0b0111, 50, &ja_body(0b0111, "")),
            preview("kaede", 0b0001, 30, &ja_body(0b0001, "")),
            preview("kaede", 0b0110, 20, &ja_body(0b0110, "")),
        ];
        let groups = groups_of(&previews);
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups[0].members, vec![0, 1, 2]);
        assert_eq!(groups[0].total, 100);
        assert_eq!(groups[0].code(), "kaede-ja-nopassport");
    }

    #[test]
    fn brand_and_passport_passage_split_groups() {
        let previews = vec![
            preview("kaede", 0b0001, 50, &ja_body(0b0001, "")),
            preview(
                "kaede",
                0b1001,
                40,
                &ja_body(0b1001, "旅券の再発行について"),
            ),
            preview("umineko", 0b0001, 60, &ja_body(0b0001, "")),
            preview("kaede", 0b1000, 5, &ja_body(0b1000, "旅券の再発行について")),
        ];
        let groups = groups_of(&previews);
        let codes: Vec<String> = groups.iter().map(Group::code).collect();
        assert_eq!(
            codes,
            [
                "umineko-ja-nopassport",
                "kaede-ja-nopassport",
                "kaede-ja-passport"
            ]
        );
        assert_eq!(groups[2].members, vec![1, 3]);
        assert_eq!(groups[2].total, 45);
    }

    #[test]
    fn a_difference_outside_the_list_is_a_second_wording() {
        // A template that adds a sentence for some fields only: its notices are not the same
        // text with another list, so they are not hidden behind the first one.
        let previews = vec![
            preview("kaede", 0b0011, 50, &ja_body(0b0011, "")),
            preview(
                "kaede",
                0b0101,
                40,
                &ja_body(0b0101, "生年月日を使った暗証番号は変更を。"),
            ),
            preview("kaede", 0b0001, 30, &ja_body(0b0001, "")),
            preview(
                "kaede",
                0b0100,
                20,
                &ja_body(0b0100, "生年月日を使った暗証番号は変更を。"),
            ),
        ];
        let groups = groups_of(&previews);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0].members, vec![0, 2]);
        assert_eq!(groups[1].members, vec![1, 3]);
        assert_eq!(groups[1].code(), "kaede-ja-nopassport-w2");
    }

    #[test]
    fn a_list_item_with_more_than_its_label_is_wording() {
        let plain = ja_body(0b0011, "");
        let annotated = ja_body(0b0101, "").replace("(2)生年月日", "(2)生年月日(西暦)");
        let groups = groups_of(&[
            preview("kaede", 0b0011, 2, &plain),
            preview("kaede", 0b0101, 1, &annotated),
        ]);
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn english_plural_is_a_difference() {
        let labels = ["氏名", "性別", "生年月日"];
        let body = |n: usize| {
            let mut b = format!(
                "the following {n} item{} leaked:\n",
                if n > 1 { "s" } else { "" }
            );
            for (i, l) in labels.iter().take(n).enumerate() {
                b.push_str(&format!("({}) {l}\n", i + 1));
            }
            b
        };
        let mut previews = vec![
            preview("kaede", 0b001, 9, &body(1)),
            preview("kaede", 0b011, 8, &body(2)),
            preview("kaede", 0b111, 7, &body(3)),
        ];
        for p in &mut previews {
            p.variant.locale = "en".into();
        }
        let groups = groups_of(&previews);
        let members: Vec<Vec<usize>> = groups.iter().map(|g| g.members.clone()).collect();
        assert_eq!(members, vec![vec![1, 2], vec![0]]);
        assert_eq!(groups[1].code(), "kaede-en-nopassport-w2");
    }

    #[test]
    fn a_line_that_holds_a_label_and_more_is_not_a_list_item() {
        let listed = ["氏名", "電話番号"];
        assert!(is_list_item("(2)電話番号", &listed));
        assert!(is_list_item("　・電話番号", &listed));
        assert!(is_list_item("(1) 氏名", &listed));
        assert!(!is_list_item("電話番号:0120-000-101", &listed));
        assert!(!is_list_item("(3)電話番号", &listed), "no third item");
        assert!(!is_list_item("ご登録の電話番号へ", &listed));
    }

    #[test]
    fn a_listed_label_elsewhere_in_the_notice_is_wording() {
        // The hotline line names 電話番号 too: it is not dropped for people whose phone leaked.
        let body = |fields: u64| ja_body(fields, "電話番号:0120-000-101");
        let groups = groups_of(&[
            preview("kaede", 0b00001, 9, &body(0b00001)),
            preview("kaede", 0b10000, 8, &body(0b10000)),
        ]);
        assert_eq!(groups.len(), 1, "{groups:?}");
    }

    #[test]
    fn counts_are_replaced_only_as_whole_numbers() {
        assert_eq!(without_count("以下の3項目、13日", 3), "以下の#項目、13日");
        assert_eq!(without_count("0120-333-3", 3), "0120-333-#");
        assert_eq!(without_count("3", 3), "#");
    }
}
