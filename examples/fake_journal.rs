//! Writes the journal a campaign would have after sending its first K rows, without sending:
//! the header binds it to the list, templates and notice settings exactly as
//! `campaign::open_journal` computes them, so a following `tsuchi send` resumes from it.
//! Used by `bench/run.sh` to time "resume a 1M campaign that is 90 % done".
//!
//! ```sh
//! cargo run --release --example fake_journal -- CONFIG STATE_DIR SENT_ROWS
//! ```

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use tsuchi::config::Config;
use tsuchi::ingest::list_identity;
use tsuchi::journal::{
    self, AttemptRecord, Header, JournalWriter, Outcome, Record, RunMarker, State,
};
use tsuchi::render::Renderer;
use tsuchi::send::notice_settings_digest;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, state_dir, sent] = args.as_slice() else {
        bail!("usage: fake_journal CONFIG STATE_DIR SENT_ROWS");
    };
    let config = Config::load(&PathBuf::from(config))?;
    let state_dir = PathBuf::from(state_dir);
    let sent: u64 = sent.parse().context("SENT_ROWS")?;
    let renderer = Renderer::new(&config)?;
    let (list_digest, rows) = list_identity(&config.campaign.recipients)?;
    if sent > rows {
        bail!("SENT_ROWS {sent} > {rows} rows in the list");
    }
    let header = Header::new(
        &config.campaign.id,
        &list_digest,
        rows,
        &renderer.templates_digest(),
        &notice_settings_digest(&config),
    );
    std::fs::create_dir_all(&state_dir)?;
    let path = journal::journal_path(&state_dir, &config.campaign.id);
    JournalWriter::create(&path, &header)?.close()?;

    // The records a send writes per row: a durable attempt, then the `sent` outcome. Written
    // directly in the writer's line format (Record::to_line), as fast as the disk allows.
    let file = std::fs::OpenOptions::new().append(true).open(&path)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let at = journal::now_rfc3339();
    let mut start = RunMarker::start();
    start.at = at.clone();
    out.write_all(&Record::Run(start).to_line())?;
    for row in 1..=sent {
        let id = format!("C{row:06}");
        let message_id = format!("<{row:08x}.3f9a1c2b7d4e@kaede-travel.example>");
        out.write_all(
            &Record::Attempt(AttemptRecord {
                row,
                id: id.clone(),
                attempt: 1,
                message_id: message_id.clone(),
                at: at.clone(),
            })
            .to_line(),
        )?;
        out.write_all(
            &Record::Outcome(Outcome {
                row,
                id,
                state: State::Sent,
                attempt: 1,
                code: Some(250),
                enhanced: Some("2.0.0".into()),
                reply: Some("2.0.0 Ok: queued as 4XyZ1abCdE".into()),
                unknown: false,
                message_id: Some(message_id),
                relay: None,
                at: at.clone(),
            })
            .to_line(),
        )?;
    }
    let mut stop = RunMarker::stop("limit").with("sent", sent);
    stop.at = at;
    out.write_all(&Record::Run(stop).to_line())?;
    out.flush()?;
    out.into_inner()?.sync_all()?;
    println!(
        "{}: {rows} rows, {sent} sent ({} records)",
        path.display(),
        2 * sent + 2
    );
    Ok(())
}
