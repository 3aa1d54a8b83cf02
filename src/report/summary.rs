//! `report --summary`: the figures an incident report needs, from the journals alone.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use super::journals::open_journals;
use crate::config::Config;
use crate::journal::State;

/// The figures an incident report needs, from the journal alone, in Japanese and English.
pub fn summary(config: &Config, state_dirs: &[PathBuf], out: &mut dyn Write) -> Result<()> {
    let journals = open_journals(config, state_dirs)?;
    let counts = journals.counts();
    let get = |s: State| counts.get(&s).copied().unwrap_or(0);
    let people = journals.list_rows;
    let notified = get(State::Sent) + get(State::Delayed);
    let bounced = get(State::Bounced);
    let refused = get(State::Failed);
    let invalid = get(State::Skipped);
    let not_yet = get(State::Pending) + get(State::Deferred) + get(State::Attempting);
    let unreachable = bounced + refused + invalid;
    let g = crate::util::format::group_digits;
    writeln!(
        out,
        "通知状況の集計 / Notification summary — campaign {}",
        journals.campaign
    )?;
    writeln!(
        out,
        "  対象者数 (people in the list)                              {:>12}",
        g(people)
    )?;
    writeln!(
        out,
        "  電子メールで通知済み (notified by e-mail)                  {:>12}",
        g(notified)
    )?;
    writeln!(
        out,
        "    うち配信遅延の報告あり (of which delivery delayed)        {:>12}",
        g(get(State::Delayed))
    )?;
    writeln!(
        out,
        "  電子メールで通知できなかった (not reachable by e-mail)    {:>12}",
        g(unreachable)
    )?;
    writeln!(
        out,
        "    不達通知 (bounced)                                       {:>12}",
        g(bounced)
    )?;
    writeln!(
        out,
        "    送信拒否 (refused by the receiving server)               {:>12}",
        g(refused)
    )?;
    writeln!(
        out,
        "    宛先データ不備 (invalid row in the list)                 {:>12}",
        g(invalid)
    )?;
    writeln!(
        out,
        "  未送信・再送待ち (not sent yet or to be retried)           {:>12}",
        g(not_yet)
    )?;
    writeln!(
        out,
        "  他の手段での通知対象 (exported for another channel: `report --unreached`) {:>12}",
        g(unreachable + not_yet)
    )?;
    let letters = journals.letters()?;
    writeln!(
        out,
        "  書面で通知 (letters exported for printing: `tsuchi letters`)  {:>12}",
        g(letters.people())
    )?;
    writeln!(
        out,
        "    うち投函済み (of which posted, as the print vendor confirmed) {:>12}",
        g(letters.people_posted())
    )?;
    let total = notified + unreachable + not_yet;
    if total != people {
        writeln!(
            out,
            "  warning: the categories add up to {total}, not {people}"
        )?;
    }
    Ok(())
}
