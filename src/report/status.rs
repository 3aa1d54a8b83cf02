//! `status`: counts by state, the last run and its rate, failures by reply and by recipient
//! domain, counts by destination group, possible duplicates and overlapping shards — computed
//! from the journals (replayed from their checkpoints) and, for groups and domains, the
//! list's keys. Nothing here prints a name, an address or a phone number.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::journals::Journals;
use crate::config::Config;
use crate::ingest::{Encoding, RecipientReader, Row};
use crate::journal::State;
use crate::util::time::shown_time;

/// Counts and breakdowns for `status`.
#[derive(Debug, Default, Serialize)]
pub struct Status {
    pub campaign: String,
    pub journal: PathBuf,
    pub list_rows: u64,
    pub states: BTreeMap<String, u64>,
    pub failures_by_reply: BTreeMap<String, u64>,
    pub failures_by_domain: BTreeMap<String, u64>,
    /// Destination group (`[[send.destinations]]`) → state → recipients, when the config has
    /// groups besides the default one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_group: BTreeMap<String, BTreeMap<String, u64>>,
    pub possible_duplicates: Vec<String>,
    /// Recipients recorded in the journals of two shards (the shards overlap).
    pub in_two_shards: Vec<String>,
    pub torn_tail: Option<String>,
    /// Committed records a journal has lost (see `journal::RecordsMissing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_records: Option<String>,
}

impl Status {
    /// Counts one valid row of the list: in `group`'s states (when counting by group) and,
    /// if it failed, under its address's domain.
    fn count_row(
        &mut self,
        group: Option<&str>,
        state: State,
        domain: impl FnOnce() -> Result<String>,
    ) -> Result<()> {
        if let Some(group) = group {
            *self
                .by_group
                .entry(group.to_string())
                .or_default()
                .entry(state.as_str().to_string())
                .or_default() += 1;
        }
        if matches!(state, State::Failed | State::Deferred | State::Bounced) {
            *self.failures_by_domain.entry(domain()?).or_default() += 1;
        }
        Ok(())
    }
}

/// Computes `status` from the journals; the list is read only to name recipients and group
/// failures by domain.
pub fn status(
    config: &Config,
    recipients: &Path,
    encoding: Encoding,
    state_dirs: &[PathBuf],
    out: &mut dyn Write,
) -> Result<Status> {
    let Some(mut journals) = Journals::open(state_dirs, &config.campaign.id)? else {
        writeln!(
            out,
            "campaign {}: nothing sent yet (no journal in {})",
            config.campaign.id,
            state_dirs
                .first()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )?;
        return Ok(Status {
            campaign: config.campaign.id.clone(),
            ..Default::default()
        });
    };
    let mut status = Status {
        campaign: journals.campaign.clone(),
        journal: journals.journals[0].path.clone(),
        list_rows: journals.list_rows,
        torn_tail: journals
            .journals
            .iter()
            .find_map(|j| j.replay.torn_tail.as_ref().map(|t| (j, t)))
            .map(|(j, t)| format!("{} line {}: {}", j.path.display(), t.line, t.reason)),
        missing_records: journals
            .journals
            .iter()
            .find_map(|j| j.replay.missing.as_ref().map(|m| m.to_string())),
        ..Default::default()
    };
    for (state, n) in journals.counts() {
        status.states.insert(state.as_str().to_string(), n);
    }
    // Failures by reply, from the last outcome of each failed, deferred or bounced row.
    for row in 1..=journals.list_rows {
        if !matches!(
            journals.state(row),
            State::Failed | State::Deferred | State::Bounced
        ) {
            continue;
        }
        if let Some(key) = journals.reply_key(row)? {
            *status.failures_by_reply.entry(key).or_default() += 1;
        }
    }
    let duplicates = journals.possible_duplicates();
    // The list is read only when it is the journals' own (a different one is refused), through
    // the list's keys ([`super::index`]: built once, then read in one pass of a few bytes per
    // row), for the failures by domain and the counts by destination group.
    let keys = super::index::status_keys(config, recipients, encoding, state_dirs, &journals)?;
    let groups = config.send.destination_groups();
    let by_group = groups.groups().len() > 1;
    if let Some(keys) = &keys
        && (by_group || !status.failures_by_reply.is_empty())
    {
        let mut domains = std::collections::HashMap::new();
        keys.each_row(|row, facts| {
            if !facts.valid {
                return Ok(());
            }
            let group = groups
                .groups()
                .get(facts.group)
                .map_or("default", |g| g.name.as_str());
            status.count_row(by_group.then_some(group), journals.state(row), || {
                if let Some(d) = domains.get(&facts) {
                    return Ok(String::clone(d));
                }
                let d = keys.domain(&facts)?;
                Ok(domains.entry(facts).or_insert(d).clone())
            })
        })?;
    } else if keys.is_none()
        && (by_group || !status.failures_by_reply.is_empty())
        && journals.bind_list(recipients, config, encoding)?
    {
        // No index could be written (a read-only state directory): the list is read.
        for row in RecipientReader::open_without_duplicates(recipients, config, encoding)? {
            let Row::Valid { recipient, .. } = row? else {
                continue;
            };
            let domain = recipient
                .email
                .rsplit_once('@')
                .map_or(String::new(), |(_, d)| d.to_ascii_lowercase());
            let group = by_group.then(|| groups.group_of(&domain));
            status.count_row(group, journals.state(recipient.row), || Ok(domain.clone()))?;
        }
    }
    let named: BTreeSet<u64> = duplicates
        .iter()
        .chain(&journals.overlapping)
        .copied()
        .collect();
    // Named by the ids the list's keys hold, or else by those the journals record.
    let ids = match &keys {
        Some(k) => named
            .iter()
            .map(|&row| Ok((row, k.id(row)?)))
            .collect::<Result<std::collections::BTreeMap<u64, String>>>()?,
        None => journals.recorded_ids(&named)?,
    };
    let name = |row: &u64| {
        ids.get(row)
            .cloned()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("row {row}"))
    };
    status.possible_duplicates = duplicates.iter().map(name).collect();
    status.in_two_shards = journals.overlapping.iter().map(name).collect();
    print_status(&status, &journals, out)?;
    Ok(status)
}

fn print_status(s: &Status, journals: &Journals, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "campaign {} — journal {}",
        s.campaign,
        s.journal.display()
    )?;
    writeln!(out, "list: {} rows", s.list_rows)?;
    let running = journals.journals.iter().find_map(|j| j.running.clone());
    for (state, n) in &s.states {
        if *n > 0 || matches!(state.as_str(), "sent" | "pending" | "deferred" | "failed") {
            let label = match state.as_str() {
                "attempting" if running.is_some() => "attempting (in flight now)",
                "attempting" => "attempting (in flight when a run died)",
                "skipped" => "skipped (invalid rows; follow-up classes not mailed)",
                other => other,
            };
            writeln!(out, "  {label:<40} {n:>10}")?;
        }
    }
    let letters = journals.letters()?;
    if !letters.batches.is_empty() {
        writeln!(
            out,
            "letters (for those e-mail did not reach): {} people in {} batch files, {} posted",
            letters.people(),
            letters.batches.len(),
            letters.people_posted()
        )?;
    }
    if journals.journals.len() > 1 {
        writeln!(out, "merged from {} journals:", journals.journals.len())?;
        for j in &journals.journals {
            writeln!(out, "  {}", j.path.display())?;
        }
    }
    let last_run = journals
        .journals
        .iter()
        .filter_map(|j| j.replay.runs.last())
        .max_by(|a, b| a.started.cmp(&b.started));
    if let Some(run) = last_run {
        let how = match &running {
            _ if run.clean_stop => "stopped cleanly".to_string(),
            Some(pid) => format!("running now (pid {pid})"),
            None => "died: ended without a clean stop (crash or kill)".to_string(),
        };
        let ended = if running.is_some() && !run.clean_stop {
            "now".to_string()
        } else {
            shown_time(&run.ended)
        };
        writeln!(
            out,
            "last run: {} → {ended}, {how}{}",
            shown_time(&run.started),
            run.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )?;
        if let Some(rate) = run.outcome_rate() {
            let left = s.states.get("pending").copied().unwrap_or(0)
                + s.states.get("deferred").copied().unwrap_or(0)
                + s.states.get("attempting").copied().unwrap_or(0);
            let eta = if rate > 0.0 && left > 0 {
                format!(
                    ", ETA at that rate {}",
                    crate::util::format::format_duration(left as f64 / rate)
                )
            } else {
                String::new()
            };
            writeln!(out, "  rate {rate:.1} msg/s{eta}")?;
        }
    }
    if !s.by_group.is_empty() {
        writeln!(out, "by destination group:")?;
        for (group, states) in &s.by_group {
            let counts: Vec<String> = states.iter().map(|(st, n)| format!("{st} {n}")).collect();
            writeln!(out, "  {group:<20} {}", counts.join(" · "))?;
        }
    }
    if !s.failures_by_reply.is_empty() {
        writeln!(out, "failures by reply:")?;
        for (k, n) in &s.failures_by_reply {
            writeln!(out, "  {n:>10}  {k}")?;
        }
    }
    if !s.failures_by_domain.is_empty() {
        writeln!(out, "failures by recipient domain:")?;
        let mut by: Vec<_> = s.failures_by_domain.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, n) in by {
            writeln!(out, "  {n:>10}  {k}")?;
        }
    }
    if !s.possible_duplicates.is_empty() {
        writeln!(
            out,
            "possible duplicates (re-sent after a run died mid-transaction): {}",
            s.possible_duplicates.join(", ")
        )?;
    }
    if !s.in_two_shards.is_empty() {
        writeln!(
            out,
            "warning: recorded in two shards' journals (the shards overlap): {}",
            s.in_two_shards.join(", ")
        )?;
    }
    if let Some(t) = &s.torn_tail {
        writeln!(out, "journal: torn last line set aside ({t})")?;
    }
    if let Some(m) = &s.missing_records {
        writeln!(out, "journal damaged: {m}")?;
    }
    Ok(())
}
