//! How a person of a follow-up campaign (第2報) stands against the earlier campaign: the class
//! ([`FollowUpKind`]) and the fields added or withdrawn since its notice ([`FollowUp`]). Pure
//! data, decided from two field sets by [`FollowUp::classify`]; reading the earlier campaign
//! is `crate::waves`'.

use crate::ingest::FieldSet;

/// How a person stands compared with the earlier campaign. One class per person, by this
/// precedence: `New`, then `NotReached`, then `Added` (some fields added, maybe some also
/// withdrawn), then `Corrected` (only withdrawn), then `Unchanged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FollowUpKind {
    /// Not in the earlier list.
    New,
    /// More fields flagged now than the earlier notice listed.
    Added,
    /// Fields the earlier notice listed are no longer flagged (and none added).
    Corrected,
    /// The same fields as the earlier notice.
    Unchanged,
    /// The earlier notice did not reach the person: failed, bounced, refused or never sent.
    NotReached,
}

impl FollowUpKind {
    /// Every kind, in the order counts are shown.
    pub const ALL: [FollowUpKind; 5] = [
        FollowUpKind::New,
        FollowUpKind::Added,
        FollowUpKind::Corrected,
        FollowUpKind::Unchanged,
        FollowUpKind::NotReached,
    ];

    /// The name in the config (`campaign.follow_up.send_to`), the templates and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpKind::New => "new",
            FollowUpKind::Added => "added",
            FollowUpKind::Corrected => "corrected",
            FollowUpKind::Unchanged => "unchanged",
            FollowUpKind::NotReached => "not_reached",
        }
    }
}

impl std::fmt::Display for FollowUpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One person's standing against the earlier campaign.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FollowUp {
    pub kind: FollowUpKind,
    /// Fields flagged now that the earlier notice did not list (empty unless the earlier notice
    /// reached the person: someone new or not reached gets the whole list, with nothing to
    /// compare it with).
    pub added: FieldSet,
    /// Fields the earlier notice listed that are no longer flagged (same condition).
    pub corrected: FieldSet,
    /// When the earlier notice was accepted for delivery, as a date in Japan (`2026-11-20`).
    pub previous_sent_at: Option<String>,
}

impl FollowUp {
    /// Compares the fields flagged now with the earlier notice's: `earlier` is `None` for a
    /// person not in the earlier list, else the fields it listed, whether it reached the
    /// person and when it was sent. The one place the classes are decided.
    pub fn classify(now: FieldSet, earlier: Option<(FieldSet, bool, Option<String>)>) -> FollowUp {
        let Some((before, reached, sent_at)) = earlier else {
            return FollowUp {
                kind: FollowUpKind::New,
                added: FieldSet::default(),
                corrected: FieldSet::default(),
                previous_sent_at: None,
            };
        };
        if !reached {
            return FollowUp {
                kind: FollowUpKind::NotReached,
                added: FieldSet::default(),
                corrected: FieldSet::default(),
                previous_sent_at: sent_at,
            };
        }
        let added = FieldSet(now.0 & !before.0);
        let corrected = FieldSet(before.0 & !now.0);
        let kind = if !added.is_empty() {
            FollowUpKind::Added
        } else if !corrected.is_empty() {
            FollowUpKind::Corrected
        } else {
            FollowUpKind::Unchanged
        };
        FollowUp {
            kind,
            added,
            corrected,
            previous_sent_at: sent_at,
        }
    }
}

/// What of a [`FollowUp`] changes a notice's wording, for variants: the class and the fields
/// added and withdrawn (not the earlier notice's date, printed like the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FollowUpVariant {
    pub kind: FollowUpKind,
    pub added: FieldSet,
    pub corrected: FieldSet,
}

impl FollowUp {
    /// The part of the standing that is a variant's.
    pub fn variant(&self) -> FollowUpVariant {
        FollowUpVariant {
            kind: self.kind,
            added: self.added,
            corrected: self.corrected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(bits: u64) -> FieldSet {
        FieldSet(bits)
    }

    #[test]
    fn classes_follow_the_precedence() {
        assert_eq!(FollowUp::classify(set(1), None).kind, FollowUpKind::New);
        let not_reached = FollowUp::classify(set(0b11), Some((set(0b01), false, None)));
        assert_eq!(not_reached.kind, FollowUpKind::NotReached);
        assert!(not_reached.added.is_empty(), "nothing to compare with");
        let both = FollowUp::classify(set(0b110), Some((set(0b011), true, None)));
        assert_eq!(both.kind, FollowUpKind::Added);
        assert_eq!((both.added, both.corrected), (set(0b100), set(0b001)));
        let fewer = FollowUp::classify(set(0b010), Some((set(0b011), true, None)));
        assert_eq!(fewer.kind, FollowUpKind::Corrected);
        assert_eq!(fewer.corrected, set(0b001));
        let same = FollowUp::classify(set(0b011), Some((set(0b011), true, None)));
        assert_eq!(same.kind, FollowUpKind::Unchanged);
    }
}
