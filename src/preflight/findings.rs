//! What `tsuchi preflight` found: one [`Finding`] per check, each ok / warning / error with the
//! record it looked at and, when something is wrong, what to publish; and the two ways of
//! printing them (a table for people, JSON for scripts).
//!
//! A finding holds DNS names, record values and the configured domains only: public data. The
//! DKIM private key never reaches it (only the public key derived from it, which is meant to be
//! published).

use std::io::Write;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Set up as receivers expect.
    Ok,
    /// Works, but weaker than a breach-notice sender should be, or not checkable from here.
    Warning,
    /// Receivers will reject, junk or fail to authenticate the notices, or bounces cannot arrive.
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// Which check a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Dmarc,
    Dkim,
    Spf,
    BounceMx,
    Alignment,
}

impl Check {
    /// The name in JSON and in `check`'s summary: `dmarc`, `dkim`, `spf`, `bounce-mx`, `alignment`.
    pub fn name(self) -> &'static str {
        match self {
            Check::Dmarc => "dmarc",
            Check::Dkim => "dkim",
            Check::Spf => "spf",
            Check::BounceMx => "bounce-mx",
            Check::Alignment => "alignment",
        }
    }

    /// The English and Japanese label of the table.
    fn label(self) -> &'static str {
        match self {
            Check::Dmarc => "DMARC (ポリシー)",
            Check::Dkim => "DKIM (署名鍵)",
            Check::Spf => "SPF (送信元)",
            Check::BounceMx => "bounce MX (差戻し先)",
            Check::Alignment => "alignment (整合)",
        }
    }
}

/// One result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: Check,
    pub level: Level,
    /// The DNS name looked at, or the identities compared.
    pub subject: String,
    /// What was found, in a sentence.
    pub detail: String,
    /// What to publish or change to fix it, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<String>,
}

impl Finding {
    pub fn new(
        check: Check,
        level: Level,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            level,
            subject: subject.into(),
            detail: detail.into(),
            publish: None,
        }
    }

    pub fn publish(mut self, what: impl Into<String>) -> Finding {
        self.publish = Some(what.into());
        self
    }
}

/// Everything one run of the pre-flight found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The From address's domain.
    pub from_domain: String,
    /// The envelope sender's (return path's) domain, where bounces go.
    pub return_path_domain: String,
    /// Which DNS server answered: `system resolver` or the address given.
    pub dns: String,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// The worst level found (ok for an empty report).
    pub fn worst(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// `5 ok, 1 warning, 0 errors`.
    pub fn counts_line(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} ok, {}, {}",
            self.count(Level::Ok),
            plural(self.count(Level::Warning), "warning", "warnings"),
            plural(self.count(Level::Error), "error", "errors")
        )
    }

    /// The table for people.
    pub fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "preflight: From {}, Return-Path {} (DNS: {})",
            self.from_domain, self.return_path_domain, self.dns
        )?;
        // Columns by display width: the Japanese labels are full-width.
        let pad = |s: &str, width: usize| {
            let w = unicode_width::UnicodeWidthStr::width(s);
            format!("{s}{}", " ".repeat(width.saturating_sub(w)))
        };
        let indent = " ".repeat(2 + 8 + 1 + 24 + 1);
        for f in &self.findings {
            writeln!(
                out,
                "  {:<8} {}{}",
                f.level.label(),
                pad(f.check.label(), 25),
                f.subject
            )?;
            writeln!(out, "{indent}{}", f.detail)?;
            if let Some(p) = &f.publish {
                writeln!(out, "{indent}publish / 公開: {p}")?;
            }
        }
        writeln!(out, "summary: {}", self.counts_line())
    }

    /// The same as one JSON document.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }
}
