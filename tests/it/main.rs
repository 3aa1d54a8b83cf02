//! The integration tests, one binary with a module per area (`cargo test --test it AREA::`).
//! They spawn the real `tsuchi` binary and talk SMTP to scripted servers on loopback; the
//! shared fixtures are in `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod approval_gate;
mod approval_log;
mod bounce_classify;
mod bounce_read;
mod bounces_e2e;
mod charset_headers;
mod charset_iso2022jp;
mod duplicates_passes;
mod hostile_lists;
mod hostile_props;
mod hotline;
mod ingest_regressions;
mod journal_hint;
mod journal_regressions;
mod journal_replay;
mod journal_writer;
mod letters;
mod lint_bench;
mod lint_cases;
mod message_parse;
mod notice_render;
mod preflight;
mod privacy;
mod prodrelay;
mod recipients_fuzz;
mod recipients_ingest;
mod recipients_samples;
mod recipients_scale;
mod relay_faults;
mod relays;
mod render_regressions;
mod review_groups;
mod review_page_render;
mod sched;
mod send_kill;
mod send_rate;
mod send_regressions;
mod send_smtp;
mod shards;
mod smtp_server_selftest;
mod state_dir;
mod status_checkpoint;
mod waves;
mod wrap_golden;
mod wrap_rules;
