//! What a row of the list becomes: a [`Recipient`] ready to be sent to, or the problems that
//! keep it from being sent ([`RowIssue`]), as one [`Row`] per data record; with the limits a
//! cell must keep and the set of leaked fields a row names ([`FieldSet`]).

use std::fmt;
use std::path::PathBuf;

/// Longest accepted customer id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest accepted name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest accepted e-mail address (RFC 5321 path limit minus the brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest accepted local part (before `@`), in bytes.
pub const MAX_LOCAL_PART: usize = 64;

/// Set of leaked fields, bit `i` = `config.fields[i]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldSet(pub u64);

impl FieldSet {
    /// Whether field `i` is in the set (false for `i >= 64`).
    pub fn contains(self, i: usize) -> bool {
        i < 64 && self.0 & (1u64 << i) != 0
    }

    /// Adds field `i`. The catalogue holds at most 64 fields (checked by the config).
    ///
    /// # Panics
    /// If `i >= 64`.
    pub fn insert(&mut self, i: usize) {
        assert!(i < 64, "FieldSet holds field indexes 0..64, got {i}");
        self.0 |= 1u64 << i;
    }

    /// The field indexes in the set, ascending.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..64).filter(move |&i| self.contains(i))
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One affected person, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// 1-based number of the data record in the file (header excluded; 1 = first record); the journal keys on it.
    pub row: u64,
    /// 1-based physical line where the record starts.
    pub line: u64,
    pub id: String,
    /// The address as it must be given to SMTP: for a legacy address, the quoted form.
    pub email: String,
    /// The address has dots outside RFC 5322 (old Japanese mobile addresses) and is quoted.
    pub legacy_email: bool,
    /// May be empty if the column is absent or the cell empty.
    pub name: String,
    /// A key of `config.brands`.
    pub brand: String,
    /// A key of `config.incident`: the `locale` column or `config.campaign.default_locale`.
    pub locale: String,
    pub leaked: FieldSet,
}

/// A problem with one row: an error that keeps the row from being sent, or a warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowIssue {
    pub file: PathBuf,
    pub line: u64,
    /// The customer id, when the row has a usable one.
    pub id: Option<String>,
    /// What is wrong, starting with the column (`leaked_phone: not a flag`). It names the
    /// column and the kind of problem, never a cell's value: it is what the journal stores and
    /// `report` and `lookup` show.
    pub problem: String,
    /// The cell as written (shortened), when the problem is its value: for the operator's own
    /// terminal only (`check`, through [`RowIssue::with_value`]), since on a list whose columns
    /// are shifted it is another column's personal data. Never stored or reported.
    pub value: Option<String>,
}

impl RowIssue {
    /// The issue as `check` prints it to the operator: [`RowIssue`]'s `file:line: id: problem`,
    /// then the cell as written, marked as such (`[cell in the list: "maybe"]`).
    pub fn with_value(&self) -> impl fmt::Display + '_ {
        struct WithValue<'a>(&'a RowIssue);
        impl fmt::Display for WithValue<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)?;
                match &self.0.value {
                    Some(v) => write!(f, " [cell in the list: \"{v}\"]"),
                    None => Ok(()),
                }
            }
        }
        WithValue(self)
    }
}

impl fmt::Display for RowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(
                f,
                "{}:{}: {}: {}",
                self.file.display(),
                self.line,
                id,
                self.problem
            ),
            None => write!(f, "{}:{}: {}", self.file.display(), self.line, self.problem),
        }
    }
}

/// One data record of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    Valid {
        recipient: Recipient,
        warnings: Vec<RowIssue>,
    },
    Invalid {
        row: u64,
        line: u64,
        id: Option<String>,
        errors: Vec<RowIssue>,
    },
}

impl Row {
    /// 1-based number of the data record.
    pub fn row(&self) -> u64 {
        match self {
            Row::Valid { recipient, .. } => recipient.row,
            Row::Invalid { row, .. } => *row,
        }
    }

    /// 1-based line where the record starts.
    pub fn line(&self) -> u64 {
        match self {
            Row::Valid { recipient, .. } => recipient.line,
            Row::Invalid { line, .. } => *line,
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self, Row::Valid { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_set_basics() {
        let mut s = FieldSet::default();
        assert!(s.is_empty());
        s.insert(0);
        s.insert(8);
        s.insert(63);
        assert!(s.contains(8) && !s.contains(7) && !s.contains(64));
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 8, 63]);
    }
}
