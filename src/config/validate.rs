//! The rules a loaded configuration must meet beyond its types: ids, addresses, ranges, texts
//! that may not be empty, brands and locales that refer to each other.

use anyhow::{Context, Result, bail};

use super::Config;

impl Config {
    /// Checks the rules; the error names the key.
    pub(super) fn validate(&self) -> Result<()> {
        let id = &self.campaign.id;
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            bail!("campaign.id {id:?} must be 1-64 ASCII letters, digits, '-' or '_'");
        }
        if let Some(follows) = &self.campaign.follows
            && follows.campaign == *id
        {
            bail!(
                "campaign.follows.campaign is this campaign's own id {id:?}: a follow-up needs an id of its own"
            );
        }
        for class in &self.campaign.follow_up.send_to {
            if !crate::config::FOLLOW_UP_KINDS.contains(&class.as_str()) {
                bail!(
                    "campaign.follow_up.send_to: {class:?} is not one of {}",
                    crate::config::FOLLOW_UP_KINDS.join(", ")
                );
            }
        }
        for (key, value) in [
            ("sender.address", Some(&self.sender.address)),
            ("sender.return_path", self.sender.return_path.as_ref()),
            ("sender.reply_to", self.sender.reply_to.as_ref()),
        ] {
            if let Some(v) = value {
                v.parse::<lettre::Address>()
                    .map_err(|e| anyhow::anyhow!("{key} {v:?} is not an e-mail address: {e}"))?;
            }
        }
        if self.send.tls_client_cert.is_some() != self.send.tls_client_key.is_some() {
            bail!("send.tls_client_cert and send.tls_client_key go together: set both or neither");
        }
        for r in &self.send.relays {
            if r.tls_client_cert.is_some() != r.tls_client_key.is_some() {
                bail!(
                    "send.relays ({}): tls_client_cert and tls_client_key go together: set both or neither",
                    r.name
                );
            }
        }
        if self.mail.verp && self.sender.return_path.is_none() {
            bail!("mail.verp needs sender.return_path (the bounce address to extend)");
        }
        if !(20..=200).contains(&self.mail.wrap_width) {
            bail!("mail.wrap_width must be between 20 and 200 display columns");
        }
        if self.fields.is_empty() {
            bail!("fields: the field catalogue is empty");
        }
        if self.fields.len() > 64 {
            bail!("fields: at most 64 fields are supported");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            if f.key.is_empty()
                || !f
                    .key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                bail!(
                    "fields[{i}].key {:?} must be lowercase ASCII letters, digits and '_'",
                    f.key
                );
            }
            if !seen.insert(&f.key) {
                bail!("fields[{i}].key {:?} appears twice", f.key);
            }
            if f.label.trim().is_empty() {
                bail!("fields[{i}].label is empty");
            }
        }
        if self.brands.is_empty() {
            bail!("brands: at least one brand is needed");
        }
        for (key, b) in &self.brands {
            if b.name.trim().is_empty() {
                bail!("brands.{key}.name is empty");
            }
            if b.hotline.number.trim().is_empty() {
                bail!("brands.{key}.hotline.number is empty");
            }
        }
        if !self.incident.contains_key(&self.campaign.default_locale) {
            bail!(
                "incident.{}: no incident texts for the default locale",
                self.campaign.default_locale
            );
        }
        for (locale, texts) in &self.incident {
            // Only the passage for people without passport data may be left out.
            for (name, value) in texts.named() {
                if name != "no_passport" && value.trim().is_empty() {
                    bail!("incident.{locale}.{name} is empty");
                }
            }
        }
        let s = &self.send;
        if s.concurrency == 0 || s.concurrency > 256 {
            bail!("send.concurrency must be between 1 and 256");
        }
        if s.rate < 0.0 || !s.rate.is_finite() {
            bail!("send.rate must be zero (unlimited) or positive");
        }
        if s.burst == 0 {
            bail!("send.burst must be at least 1");
        }
        if s.messages_per_connection == 0 {
            bail!("send.messages_per_connection must be at least 1");
        }
        if s.max_attempts == 0 {
            bail!("send.max_attempts must be at least 1");
        }
        for (domain, rate) in &s.domain_rates {
            if !(*rate > 0.0 && rate.is_finite()) {
                bail!("send.domain_rates.\"{domain}\" must be a positive rate");
            }
        }
        s.validate_schedule()?;
        for (key, b) in &self.brands {
            if let Some(w) = &b.send_window {
                w.parse()
                    .with_context(|| format!("brands.{key}.send_window"))?;
            }
        }
        super::relays::validate(
            &s.relays,
            &s.reply_rules,
            s.max_unknown_ratio,
            s.unknown_window,
        )?;
        Ok(())
    }
}
