//! The follow-up data of a notice (第2報): a [`FollowUps`] source (`crate::waves`, which reads
//! the earlier campaign) answers for each person how they stand against the earlier campaign,
//! and the renderer puts the answer into the template data as `follow_up`.

use serde::Serialize;

use crate::ingest::FieldSet;
pub use crate::ingest::follow_up::{FollowUp, FollowUpKind};

/// Answers, for one person of a follow-up campaign (customer id and fields flagged now), how
/// they stand against the earlier campaign.
pub trait FollowUps: Send + Sync {
    fn follow_up(&self, id: &str, leaked: FieldSet) -> FollowUp;

    /// The date a sample notice (a preview) gives for the earlier notice: the day it was
    /// first sent.
    fn sample_sent_at(&self) -> Option<String>;
}

/// `follow_up` in the template data.
#[derive(Serialize)]
pub(super) struct FollowUpView<'a> {
    pub kind: &'static str,
    pub added_fields: Vec<&'a str>,
    pub corrected_fields: Vec<&'a str>,
    pub previous_sent_at: Option<&'a str>,
}

impl<'a> FollowUpView<'a> {
    pub fn new(f: &'a FollowUp, labels: &'a [String]) -> FollowUpView<'a> {
        let pick = |set: FieldSet| {
            set.iter()
                .filter_map(|i| labels.get(i).map(String::as_str))
                .collect()
        };
        FollowUpView {
            kind: f.kind.as_str(),
            added_fields: pick(f.added),
            corrected_fields: pick(f.corrected),
            previous_sent_at: f.previous_sent_at.as_deref(),
        }
    }
}
