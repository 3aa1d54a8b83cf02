//! `tsuchi preview` by groups: one `.eml` per review group (its representative's sample notice)
//! and the grouped review page, from the variant previews of [`crate::review::preview`].

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::mail::message::MessageBuilder;
use crate::render::notice::Notice;
use crate::review::group_page::{GroupPageInput, PageCombination, PageGroup, render_group_page};
use crate::review::groups::{self, Group};
use crate::review::preview::{SAMPLE_EMAIL, SAMPLE_ID, SAMPLE_NAME_JA, VariantPreview};
use crate::util::fs::create_private_dir;

/// Groups `previews` (see [`groups::group`]) and writes each group's representative as
/// `<out_dir>/group-NN-<code>-<count>people.eml` (`1person.eml` for one). Returns the groups, most recipients first,
/// with their files.
pub fn preview_groups(
    config: &Config,
    previews: &[VariantPreview],
    out_dir: &Path,
) -> Result<Vec<Group>> {
    let renderer = crate::waves::renderer(config)?;
    let mut groups = groups::group(previews, groups::passport_bits(config), |locale| {
        renderer.field_labels(locale)
    })?;
    let builder = MessageBuilder::new(config)?;
    create_private_dir(out_dir)?;
    let width = groups.len().to_string().len().max(2);
    for (n, g) in groups.iter_mut().enumerate() {
        let rep = &previews[g.representative()];
        let notice = Notice {
            subject: rep.subject.clone(),
            body: rep.body.clone(),
        };
        let message = builder.build(
            &notice,
            &format!("{SAMPLE_ID}/{}", rep.variant.code()),
            SAMPLE_EMAIL,
            SystemTime::now(),
        )?;
        let file = out_dir.join(format!(
            "group-{:0width$}-{}-{}.eml",
            n + 1,
            g.code(),
            crate::util::format::people(g.total)
        ));
        std::fs::write(&file, &message.bytes)
            .with_context(|| format!("cannot write {}", file.display()))?;
        g.file = Some(file);
    }
    Ok(groups)
}

/// The previews written, in the order preview lists them: each group's representative (with the
/// group's count and file), then each combination written on request. `--mail-to` sends these.
pub fn written(groups: &[Group], previews: &[VariantPreview]) -> Vec<VariantPreview> {
    let copy = |p: &VariantPreview, count, file: &Option<PathBuf>| VariantPreview {
        variant: p.variant.clone(),
        count,
        file: file.clone(),
        subject: p.subject.clone(),
        body: p.body.clone(),
    };
    let reps = groups
        .iter()
        .map(|g| copy(&previews[g.representative()], g.total, &g.file));
    let asked = previews
        .iter()
        .filter(|p| p.file.is_some())
        .map(|p| copy(p, p.count, &p.file));
    reps.chain(asked).collect()
}

fn file_name(path: &Option<PathBuf>) -> Option<String> {
    path.as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
}

/// Writes `<out_dir>/index.html`: the grouped page legal reviews.
pub fn write_review_page(
    config: &Config,
    out_dir: &Path,
    groups: &[Group],
    previews: &[VariantPreview],
    refused: u64,
) -> Result<PathBuf> {
    let pinned = crate::review::approval::Pinned::of_config(config)?;
    let page_groups = groups
        .iter()
        .map(|g| {
            let rep = &previews[g.representative()];
            let brand = &config.brands[&g.key.brand];
            let h = &brand.hotline;
            let mut hotline = h.number.clone();
            if !h.hours.is_empty() {
                hotline.push_str(&format!(" {}", h.hours));
            }
            if !h.days.is_empty() {
                hotline.push_str(&format!(" ({})", h.days));
            }
            PageGroup {
                code: g.code(),
                brand_key: g.key.brand.clone(),
                brand_name: brand.name.clone(),
                hotline,
                locale: g.key.locale.clone(),
                passport: g.key.passport,
                follow_up: g.key.follow_up.clone(),
                wording: g.wording,
                subject: rep.subject.clone(),
                body: rep.body.clone(),
                eml_file: file_name(&g.file).unwrap_or_default(),
                combinations: g
                    .members
                    .iter()
                    .map(|&i| {
                        let p = &previews[i];
                        PageCombination {
                            code: p.variant.code(),
                            count: p.count,
                            fields: (0..config.fields.len())
                                .map(|f| p.variant.fields.contains(f))
                                .collect(),
                            eml_file: file_name(&p.file),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let input = GroupPageInput {
        campaign: config.campaign.id.clone(),
        company: config.campaign.company.clone(),
        sender: format!("{} <{}>", config.sender.name, config.sender.address),
        generated_at: crate::util::time::shown_time(&crate::util::time::now_rfc3339()),
        total_recipients: previews.iter().map(|p| p.count).sum(),
        refused_rows: refused,
        catalogue: config.fields.iter().map(|f| f.label.clone()).collect(),
        groups: page_groups,
        template_digests: pinned.templates,
        setting_digests: pinned.settings,
        sample_note: format!(
            "宛名「{SAMPLE_NAME_JA}」と受付番号は架空の見本です。実際の通知には各受信者の氏名と受付番号が入ります。\
             (The name and reference number shown belong to a fictional sample person; each real \
             notice carries the recipient's own.)"
        ),
    };
    let path = out_dir.join("index.html");
    std::fs::write(&path, render_group_page(&input))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
