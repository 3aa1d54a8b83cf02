//! Rendering one person's notice: the Tera templates filled with the campaign's texts, the
//! person's brand and hotline and exactly their leaked fields, then wrapped for Japanese mail
//! and checked for links.
//!
//! Every rendered notice passes the no-link lint ([`crate::render::lint`]) before it can reach a
//! message: recipient data is interpolated, so a name such as `ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ`
//! must stop the row, not slip a link into a notice.
//!
//! ```no_run
//! # use tsuchi::{config::Config, render::Renderer};
//! let config = Config::load("config.toml".as_ref()).unwrap();
//! let renderer = Renderer::new(&config).unwrap();
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::config::{Config, sha256_hex};
use crate::ingest::FieldSet;
use crate::render::follow_up::{FollowUp, FollowUpKind, FollowUpView, FollowUps};
use crate::render::lint;
use crate::render::reference;
use crate::render::wrap;

/// Field keys whose leak triggers the passport passage.
pub const PASSPORT_FIELDS: [&str; 2] = ["passport_number", "passport_issue_date"];

/// A rendered notice: what the recipient reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: String,
    pub body: String,
}

/// What a notice is rendered from, apart from the campaign's fixed texts.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub brand: &'a str,
    pub locale: &'a str,
    pub leaked: FieldSet,
}

/// Why a notice could not be rendered for a person. The message never repeats the person's
/// data: it names the problem and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// The templates of one campaign, parsed once, with the digests an approval pins.
pub struct Renderer {
    tera: tera::Tera,
    locales: BTreeMap<String, LocaleTexts>,
    campaign_id: String,
    wrap_width: usize,
    passport_bits: FieldSet,
    /// Template file (relative to the templates directory) → SHA-256 of its bytes.
    pub template_digests: BTreeMap<String, String>,
    /// Per variant (locale and brand by position, fields, name empty): the raw subject and body with
    /// placeholders, or `None` when the templates do more with the name than print it.
    skeletons: std::sync::Mutex<Skeletons>,
    /// For a campaign that follows an earlier one: how each person stands against it.
    follow_ups: Option<std::sync::Arc<dyn FollowUps>>,
}

type Skeletons = std::collections::HashMap<
    (usize, usize, u64, bool, Option<FollowUp>),
    Option<std::sync::Arc<Prepared>>,
>;

struct LocaleTexts {
    /// Position among the locales: part of a variant's key.
    index: usize,
    company: String,
    incident: crate::config::IncidentTexts,
    brands: BTreeMap<String, BrandView>,
    labels: Vec<String>,
}

#[derive(Serialize, Clone)]
struct BrandView {
    /// Position among the brands: part of a variant's key.
    #[serde(skip)]
    index: usize,
    key: String,
    name: String,
    hotline: HotlineView,
}

#[derive(Serialize, Clone)]
struct HotlineView {
    number: String,
    hours: String,
    days: String,
}

#[derive(Serialize)]
struct TemplateData<'a> {
    locale: &'a str,
    company: &'a str,
    greeting_name: String,
    name: &'a str,
    reference: String,
    fields: Vec<&'a str>,
    leaked: BTreeMap<&'a str, bool>,
    passport_leaked: bool,
    brand: &'a BrandView,
    incident: &'a crate::config::IncidentTexts,
    /// Absent (null) unless the campaign follows an earlier one.
    follow_up: Option<FollowUpView<'a>>,
}

impl Renderer {
    /// Loads `<templates>/<locale>/{subject,body}.tera` for every locale the config has texts
    /// for, and lints their fixed text and the config's texts for links.
    pub fn new(config: &Config) -> Result<Renderer> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        let mut template_digests = BTreeMap::new();
        let mut locales = BTreeMap::new();
        for (locale_index, (locale, incident)) in config.incident.iter().enumerate() {
            for part in ["subject", "body"] {
                let rel = format!("{locale}/{part}.tera");
                let path: PathBuf = config.campaign.templates.join(&rel);
                let source = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read template {}", path.display()))?;
                let source = fixed_text(config, &source);
                if let Some(found) = lint::find_link(&strip_tera_tags(&source)) {
                    bail!("{}: template text contains {found}", path.display());
                }
                tera.add_raw_template(&rel, &source)
                    .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), tera_error(&e)))?;
                template_digests.insert(rel, sha256_hex(source.as_bytes()));
            }
            let english = locale != "ja";
            let pick = |ja: &str, en: &Option<String>| -> String {
                match (english, en) {
                    (true, Some(en)) => fixed_text(config, en),
                    _ => fixed_text(config, ja),
                }
            };
            let brands = config
                .brands
                .iter()
                .enumerate()
                .map(|(index, (key, b))| {
                    let view = BrandView {
                        index,
                        key: key.clone(),
                        name: pick(&b.name, &b.name_en),
                        hotline: HotlineView {
                            number: fixed_text(config, &b.hotline.number),
                            hours: fixed_text(config, &b.hotline.hours),
                            days: pick(&b.hotline.days, &b.hotline.days_en),
                        },
                    };
                    (key.clone(), view)
                })
                .collect();
            let labels = config
                .fields
                .iter()
                .map(|f| pick(&f.label, &f.label_en))
                .collect();
            locales.insert(
                locale.clone(),
                LocaleTexts {
                    index: locale_index,
                    company: pick(&config.campaign.company, &config.campaign.company_en),
                    incident: incident.map(|s| fixed_text(config, s)),
                    brands,
                    labels,
                },
            );
        }
        lint_config_texts(config)?;
        let mut passport_bits = FieldSet::default();
        for key in PASSPORT_FIELDS {
            if let Some(i) = config.field_index(key) {
                passport_bits.insert(i);
            }
        }
        Ok(Renderer {
            tera,
            locales,
            campaign_id: config.campaign.id.clone(),
            wrap_width: config.mail.wrap_width,
            passport_bits,
            template_digests,
            skeletons: Default::default(),
            follow_ups: None,
        })
    }

    /// The renderer of a follow-up campaign: every notice also gets `follow_up` (kind,
    /// `added_fields`, `corrected_fields`, `previous_sent_at`) from `source`.
    pub fn with_follow_ups(mut self, source: std::sync::Arc<dyn FollowUps>) -> Renderer {
        self.follow_ups = Some(source);
        self
    }

    /// How the person stands against the earlier campaign, for a follow-up campaign.
    pub fn follow_up(&self, id: &str, leaked: FieldSet) -> Option<FollowUp> {
        self.follow_ups.as_ref().map(|s| s.follow_up(id, leaked))
    }

    /// The standing a sample person of a follow-up variant is rendered with (a preview).
    pub fn sample_follow_up(&self, variant: crate::ingest::FollowUpVariant) -> FollowUp {
        FollowUp {
            kind: variant.kind,
            added: variant.added,
            corrected: variant.corrected,
            previous_sent_at: self.follow_ups.as_ref().and_then(|s| s.sample_sent_at()),
        }
    }

    /// One digest over all template files, for the journal header.
    pub fn templates_digest(&self) -> String {
        crate::config::digest_of(&self.template_digests)
    }

    /// Locales with templates.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.locales.keys().map(String::as_str)
    }

    /// The field labels as the notices of `locale` print them, in catalogue order.
    pub fn field_labels(&self, locale: &str) -> Option<&[String]> {
        self.locales.get(locale).map(|t| t.labels.as_slice())
    }

    /// Renders, wraps and lints one person's notice.
    pub fn render(&self, person: &Person<'_>) -> Result<Notice, RenderError> {
        let follow_up = self.follow_up(person.id, person.leaked);
        self.render_as(person, follow_up.as_ref())
    }

    /// [`Renderer::render`] with the given follow-up standing instead of the person's own (a
    /// preview's sample person of a follow-up variant).
    pub fn render_as(
        &self,
        person: &Person<'_>,
        follow_up: Option<&FollowUp>,
    ) -> Result<Notice, RenderError> {
        let (texts, brand) = self.checked(person, follow_up)?;
        let name = display_name(person.name);
        let reference = reference::reference(&self.campaign_id, person.id);
        if let Some(prepared) = self.prepared(person, texts, brand, name, follow_up)? {
            return prepared.fill(name, &reference, self.wrap_width);
        }
        let (subject, body) =
            self.tera_render(person, texts, brand, name, &reference, follow_up)?;
        let subject = lint_subject(&subject)?;
        let body = lint_and_wrap(&tidy_body(&body), self.wrap_width)?;
        Ok(Notice { subject, body })
    }

    /// The person's variant prepared once: everything in a notice but the name and the
    /// reference number is the same for every person of a variant, so the variant is rendered
    /// with placeholders, linted and wrapped once, and each person's lines are filled in. `None`
    /// when the templates do more with the name than print it (a test on its length, say) —
    /// detected by comparing with Tera for two names — or the name holds a placeholder
    /// character: then Tera renders every notice of the variant.
    fn prepared(
        &self,
        person: &Person<'_>,
        texts: &LocaleTexts,
        brand: &BrandView,
        name: &str,
        follow_up: Option<&FollowUp>,
    ) -> Result<Option<std::sync::Arc<Prepared>>, RenderError> {
        if name.chars().any(|c| ('\u{E000}'..='\u{F8FF}').contains(&c)) {
            return Ok(None);
        }
        let key = (
            texts.index,
            brand.index,
            person.leaked.0,
            name.is_empty(),
            follow_up.cloned(),
        );
        if let Some(entry) = self
            .skeletons
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(entry.clone());
        }
        let slot_name = if name.is_empty() { "" } else { NAME_SLOT };
        let skeleton =
            self.tera_render(person, texts, brand, slot_name, REFERENCE_SLOT, follow_up)?;
        let mut sound = true;
        for (probe_name, probe_reference) in [
            ("見本 花子", "ZZZZ-ZZZZ-ZZZ0"),
            ("Mihon Hanako Tarou", "AAAA-BBBB-CCC1"),
        ] {
            let probe_name = if name.is_empty() { "" } else { probe_name };
            let direct =
                self.tera_render(person, texts, brand, probe_name, probe_reference, follow_up)?;
            sound &= fill(&skeleton.0, probe_name, probe_reference) == direct.0
                && fill(&skeleton.1, probe_name, probe_reference) == direct.1;
        }
        let prepared = if sound {
            Some(std::sync::Arc::new(Prepared::new(
                &skeleton,
                self.wrap_width,
            )?))
        } else {
            None
        };
        let mut cache = self.skeletons.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= SKELETON_LIMIT {
            cache.clear();
        }
        cache.insert(key, prepared.clone());
        Ok(prepared)
    }

    /// The person's locale texts and brand, after the checks every rendering makes: known
    /// locale and brand, no link in the name, something leaked (or, in a follow-up, a
    /// correction, which may have to say that nothing of theirs leaked after all).
    fn checked(
        &self,
        person: &Person<'_>,
        follow_up: Option<&FollowUp>,
    ) -> Result<(&LocaleTexts, &BrandView), RenderError> {
        let texts = self
            .locales
            .get(person.locale)
            .ok_or_else(|| RenderError(format!("no templates for locale {:?}", person.locale)))?;
        let brand = texts
            .brands
            .get(person.brand)
            .ok_or_else(|| RenderError(format!("unknown brand {:?}", person.brand)))?;
        if let Some(found) = lint::find_link(person.name) {
            return Err(RenderError(format!(
                "name: contains {}",
                found.kind.describe()
            )));
        }
        let correction = follow_up.is_some_and(|f| f.kind == FollowUpKind::Corrected);
        if person.leaked.is_empty() && !correction {
            return Err(RenderError(
                "no leaked field is flagged: there is nothing to notify".into(),
            ));
        }
        Ok((texts, brand))
    }

    /// What the notice's templates see for `person` — the numbered fields, what was not
    /// leaked, the brand's hotline, the reference number — for documents rendered from the
    /// same data as the notice (the letters of `tsuchi letters`), after the same checks as
    /// [`render`](Self::render).
    pub fn template_context(&self, person: &Person<'_>) -> Result<tera::Context, RenderError> {
        let (texts, brand) = self.checked(person, None)?;
        let reference = reference::reference(&self.campaign_id, person.id);
        let follow_up = self.follow_up(person.id, person.leaked);
        self.context(
            person,
            texts,
            brand,
            display_name(person.name),
            &reference,
            follow_up.as_ref(),
        )
    }

    /// Renders the subject and body templates for `person` with Tera.
    fn tera_render(
        &self,
        person: &Person<'_>,
        texts: &LocaleTexts,
        brand: &BrandView,
        name: &str,
        reference: &str,
        follow_up: Option<&FollowUp>,
    ) -> Result<(String, String), RenderError> {
        let context = self.context(person, texts, brand, name, reference, follow_up)?;
        let subject = self
            .tera
            .render(&format!("{}/subject.tera", person.locale), &context)
            .map_err(|e| RenderError(format!("subject template: {}", tera_error(&e))))?;
        let body = self
            .tera
            .render(&format!("{}/body.tera", person.locale), &context)
            .map_err(|e| RenderError(format!("body template: {}", tera_error(&e))))?;
        Ok((subject, body))
    }

    /// The templates' data for `person`, with `name` and `reference` as given.
    fn context(
        &self,
        person: &Person<'_>,
        texts: &LocaleTexts,
        brand: &BrandView,
        name: &str,
        reference: &str,
        follow_up: Option<&FollowUp>,
    ) -> Result<tera::Context, RenderError> {
        let english = person.locale != "ja";
        let greeting_name = match (name.is_empty(), english) {
            (true, false) => "お客様".to_string(),
            (false, false) => format!("{name} 様"),
            (true, true) => "Customer".to_string(),
            (false, true) => name.to_string(),
        };
        let mut leaked = BTreeMap::new();
        let mut fields = Vec::with_capacity(person.leaked.len());
        for (i, label) in texts.labels.iter().enumerate() {
            let is_leaked = person.leaked.contains(i);
            if is_leaked {
                fields.push(label.as_str());
            }
            leaked.insert(label.as_str(), is_leaked);
        }
        let context = TemplateData {
            locale: person.locale,
            company: &texts.company,
            greeting_name,
            name,
            reference: reference.to_string(),
            fields,
            leaked,
            passport_leaked: !FieldSet(person.leaked.0 & self.passport_bits.0).is_empty(),
            brand,
            incident: &texts.incident,
            follow_up: follow_up.map(|f| FollowUpView::new(f, &texts.labels)),
        };
        tera::Context::from_serialize(&context)
            .map_err(|e| RenderError(format!("template context: {}", tera_error(&e))))
    }
}

/// Placeholders for the person's data in a variant's skeleton (private-use characters, which
/// names are checked not to contain before the skeleton is used).
const NAME_SLOT: &str = "\u{E000}";
const REFERENCE_SLOT: &str = "\u{E001}";
const NAME_SLOT_CHAR: char = '\u{E000}';
const REFERENCE_SLOT_CHAR: char = '\u{E001}';
/// Skeletons kept: more than the variants of any campaign (brands × locales × field sets).
const SKELETON_LIMIT: usize = 65_536;

/// A skeleton filled in with one person's name and reference number.
fn fill(skeleton: &str, name: &str, reference: &str) -> String {
    let mut out = String::with_capacity(skeleton.len() + name.len() + reference.len());
    fill_into(skeleton, name, reference, &mut out);
    out
}

/// [`fill`], appending to `out`. Neither `name` nor `reference` holds a placeholder, so
/// replacing both in one pass is the same as replacing one after the other.
fn fill_into(skeleton: &str, name: &str, reference: &str, out: &mut String) {
    let mut end = 0;
    for (at, slot) in skeleton.match_indices([NAME_SLOT_CHAR, REFERENCE_SLOT_CHAR]) {
        out.push_str(&skeleton[end..at]);
        out.push_str(if slot == NAME_SLOT { name } else { reference });
        end = at + slot.len();
    }
    out.push_str(&skeleton[end..]);
}

fn has_slot(text: &str) -> bool {
    text.contains(NAME_SLOT) || text.contains(REFERENCE_SLOT)
}

/// Whitespace-normalized and linted subject.
fn lint_subject(raw: &str) -> Result<String, RenderError> {
    let subject = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(found) = lint::find_link(&subject) {
        return Err(RenderError(format!(
            "rendered subject would contain {}",
            found.kind.describe()
        )));
    }
    Ok(subject)
}

fn lint_line(line: &str) -> Result<(), RenderError> {
    match lint::find_link(line) {
        Some(found) => Err(RenderError(format!(
            "rendered notice would contain {}",
            found.kind.describe()
        ))),
        None => Ok(()),
    }
}

/// A variant's notice with the person's data left as placeholders: fixed lines already linted
/// and wrapped, the person's lines kept to be filled in.
pub struct Prepared {
    /// The raw subject with placeholders, or the finished subject when it has none.
    subject: String,
    subject_has_slots: bool,
    /// The body in order: `(true, a line with placeholders)` or `(false, fixed text)`, the
    /// fixed text already wrapped, with the line breaks between the parts.
    parts: Vec<(bool, String)>,
    /// Bytes in the parts, placeholders counted: the notice's length, nearly.
    len: usize,
}

impl Prepared {
    fn new(skeleton: &(String, String), width: usize) -> Result<Prepared, RenderError> {
        let subject_has_slots = has_slot(&skeleton.0);
        let subject = if subject_has_slots {
            skeleton.0.clone()
        } else {
            lint_subject(&skeleton.0)?
        };
        // Consecutive fixed lines are kept as one part, copied into each notice at once.
        fn push_fixed(parts: &mut Vec<(bool, String)>, text: &str) {
            match parts.last_mut() {
                Some((false, fixed)) => fixed.push_str(text),
                _ => parts.push((false, text.to_string())),
            }
        }
        let mut parts = Vec::new();
        for (i, line) in tidy_body(&skeleton.1).split('\n').enumerate() {
            if i > 0 {
                push_fixed(&mut parts, "\n");
            }
            if has_slot(line) {
                parts.push((true, line.to_string()));
            } else {
                lint_line(line)?;
                push_fixed(&mut parts, &wrap::wrap_body(line, width));
            }
        }
        let len = parts.iter().map(|(_, text)| text.len()).sum();
        Ok(Prepared {
            subject,
            subject_has_slots,
            parts,
            len,
        })
    }

    fn fill(&self, name: &str, reference: &str, width: usize) -> Result<Notice, RenderError> {
        let subject = if self.subject_has_slots {
            lint_subject(&fill(&self.subject, name, reference))?
        } else {
            self.subject.clone()
        };
        // Room for the name and the reference number in a few places, and for line breaks.
        let mut body = String::with_capacity(self.len + 4 * (name.len() + reference.len()));
        let mut line = String::new();
        for (personal, text) in &self.parts {
            if *personal {
                line.clear();
                fill_into(text, name, reference, &mut line);
                let filled = line.trim_end();
                lint_line(filled)?;
                wrap::wrap_body_into(filled, width, &mut body);
            } else {
                body.push_str(text);
            }
        }
        Ok(Notice { subject, body })
    }
}

/// The campaign's own fixed texts, made safe for its charset: under ISO-2022-JP, characters
/// with a deliberate JIS equivalent (the WAVE DASH in `9:00〜20:00`, the minus sign, …) are
/// mapped to it. Recipients' names never pass through here: they are never silently altered.
fn fixed_text(config: &Config, text: &str) -> String {
    if config.mail.charset == crate::config::Charset::Iso2022Jp {
        crate::util::iso2022jp::jis_safe_fixed_text(text)
    } else {
        text.to_string()
    }
}

/// Lints each line of a body and wraps it. (Wrapping only inserts line breaks and indentation,
/// so it cannot create a link.)
pub(crate) fn lint_and_wrap(text: &str, width: usize) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        lint_line(line)?;
        wrap::wrap_body_into(line, width, &mut out);
    }
    Ok(out)
}

/// The name as printed: surrounding spaces trimmed and one trailing honorific (様, 殿) removed,
/// because the template adds 様 itself and 様様 reads as a machine-made mistake.
pub fn display_name(name: &str) -> &str {
    let name = name.trim_matches(|c: char| c.is_whitespace());
    let name = name
        .strip_suffix('様')
        .or_else(|| name.strip_suffix('殿'))
        .unwrap_or(name);
    name.trim_end_matches(|c: char| c.is_whitespace())
}

/// Normalizes template output: line endings to `\n`, trailing spaces removed, at most one
/// blank line in a row, no blank lines at the start or the end.
pub(crate) fn tidy_body(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() && blank_run > 0 {
            out.push('\n');
        }
        blank_run = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Template source with Tera's tags blanked out, so the lint sees only fixed text
/// (`{{ brand.name }}` is a variable, not a domain).
pub(crate) fn strip_tera_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find(['{']) {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let close = match tail.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => "#}",
            _ => {
                out.push('{');
                rest = &tail[1..];
                continue;
            }
        };
        match tail.find(close) {
            Some(end) => {
                out.push(' ');
                rest = &tail[end + 2..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Lints every text of the config that reaches a notice, naming the key.
fn lint_config_texts(config: &Config) -> Result<()> {
    let mut texts: Vec<(String, &str)> = vec![
        ("campaign.company".into(), &config.campaign.company),
        ("sender.name".into(), &config.sender.name),
    ];
    if let Some(c) = &config.campaign.company_en {
        texts.push(("campaign.company_en".into(), c));
    }
    for (i, f) in config.fields.iter().enumerate() {
        texts.push((format!("fields[{i}].label"), &f.label));
        if let Some(l) = &f.label_en {
            texts.push((format!("fields[{i}].label_en"), l));
        }
    }
    for (locale, t) in &config.incident {
        for (name, v) in t.named() {
            texts.push((format!("incident.{locale}.{name}"), v));
        }
    }
    for (key, b) in &config.brands {
        texts.push((format!("brands.{key}.name"), &b.name));
        if let Some(n) = &b.name_en {
            texts.push((format!("brands.{key}.name_en"), n));
        }
        texts.push((format!("brands.{key}.hotline.number"), &b.hotline.number));
        texts.push((format!("brands.{key}.hotline.hours"), &b.hotline.hours));
        texts.push((format!("brands.{key}.hotline.days"), &b.hotline.days));
    }
    for (key, text) in texts {
        if let Some(found) = lint::find_link(text) {
            bail!(
                "{}: {key} contains {found}; notices carry no links",
                config.path.display()
            );
        }
    }
    Ok(())
}

/// Tera's errors nest their cause; show the whole chain on one line.
pub(crate) fn tera_error(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
