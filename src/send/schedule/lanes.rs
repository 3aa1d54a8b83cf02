//! Lanes: a destination group × a send window. Rows of one lane wait only for that lane's
//! limit and window; lane 0 is the default group in the campaign's window.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use jiff::tz::TimeZone;

use crate::config::{Config, DestinationGroups, SendWindow};

pub(crate) struct Lanes {
    pub(crate) groups: DestinationGroups,
    /// Brand key → window class (1…); brands without a window of their own are class 0.
    brand_class: BTreeMap<String, usize>,
    /// Per window class: every window that must be open (the campaign's, the brand's).
    windows: Vec<Vec<SendWindow>>,
    /// The time zone of days and of what the operator is told.
    pub(crate) tz: TimeZone,
}

impl Lanes {
    pub(crate) fn new(config: &Config) -> Result<Lanes> {
        let groups = config.send.destination_groups();
        let campaign = config
            .send
            .window
            .as_ref()
            .map(|w| w.parse().context("send.window"))
            .transpose()?;
        let tz = match &campaign {
            Some(w) => w.tz.clone(),
            None => TimeZone::get("Asia/Tokyo").context("the Asia/Tokyo time zone")?,
        };
        let mut windows = vec![campaign.iter().cloned().collect::<Vec<_>>()];
        let mut brand_class = BTreeMap::new();
        for (key, brand) in &config.brands {
            if let Some(w) = &brand.send_window {
                let w = w
                    .parse()
                    .with_context(|| format!("brands.{key}.send_window"))?;
                let mut all = windows[0].clone();
                all.push(w);
                windows.push(all);
                brand_class.insert(key.clone(), windows.len() - 1);
            }
        }
        Ok(Lanes {
            groups,
            brand_class,
            windows,
            tz,
        })
    }

    pub(crate) fn count(&self) -> usize {
        self.groups.groups().len() * self.windows.len()
    }

    /// The lane of a recipient at `domain` registered with `brand`.
    pub(crate) fn lane_of(&self, domain: &str, brand: &str) -> usize {
        let class = self.brand_class.get(brand).copied().unwrap_or(0);
        self.groups.index_of(domain) * self.windows.len() + class
    }

    /// The destination group (index) of `lane`.
    pub(crate) fn group(&self, lane: usize) -> usize {
        lane / self.windows.len()
    }

    /// The windows that must all be open for `lane` to send.
    pub(crate) fn windows(&self, lane: usize) -> &[SendWindow] {
        &self.windows[lane % self.windows.len()]
    }
}

/// The domain of an address as the groups see it.
pub(crate) fn domain_of(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}
