//! The settings that take one of a few names, typed when the file is loaded: a wrong name is
//! refused by `Config::load` with its key and line, and no stage compares strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Encoding of the recipients file (`campaign.encoding`, `--encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Encoding {
    /// UTF-8 (with or without BOM) if the first 64 KiB are valid UTF-8, else Shift_JIS.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "utf-8")]
    Utf8,
    /// Shift_JIS as Windows writes it (CP932, the WHATWG superset).
    #[serde(rename = "shift_jis")]
    ShiftJis,
}

/// An encoding name that is not `auto`, `utf-8` or `shift_jis`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown encoding {0:?} (use auto, utf-8 or shift_jis)")]
pub struct UnknownEncoding(pub String);

impl FromStr for Encoding {
    type Err = UnknownEncoding;

    /// The names on the command line, where the common spellings of Shift_JIS are accepted.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Encoding::Auto),
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "shift_jis" | "shift-jis" | "sjis" | "cp932" | "windows-31j" => Ok(Encoding::ShiftJis),
            _ => Err(UnknownEncoding(s.to_string())),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Auto => "auto",
            Encoding::Utf8 => "utf-8",
            Encoding::ShiftJis => "shift_jis",
        })
    }
}

/// The charset a notice is sent in (`mail.charset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Charset {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "iso-2022-jp")]
    Iso2022Jp,
}

impl Charset {
    /// The MIME / RFC 2047 name (`UTF-8`, `ISO-2022-JP`).
    pub fn mime_name(self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::Iso2022Jp => "ISO-2022-JP",
        }
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Charset::Utf8 => "utf-8",
            Charset::Iso2022Jp => "iso-2022-jp",
        })
    }
}

/// Error for an unknown charset name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown charset {0:?} (expected \"utf-8\" or \"iso-2022-jp\")")]
pub struct UnknownCharset(pub String);

impl FromStr for Charset {
    type Err = UnknownCharset;

    /// Accepts `utf-8` and `iso-2022-jp` (ASCII case-insensitive, surrounding blanks ignored).
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utf-8") {
            Ok(Charset::Utf8)
        } else if t.eq_ignore_ascii_case("iso-2022-jp") {
            Ok(Charset::Iso2022Jp)
        } else {
            Err(UnknownCharset(s.to_owned()))
        }
    }
}

/// What happens to a message ISO-2022-JP cannot carry (`mail.fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Fallback {
    /// That one message goes out in UTF-8.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// Its row is refused.
    #[serde(rename = "error")]
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        encoding: Encoding,
        charset: Charset,
        fallback: Fallback,
    }

    #[test]
    fn names_are_the_config_file_names() {
        let p: Probe = toml::from_str(
            "encoding = \"shift_jis\"\ncharset = \"iso-2022-jp\"\nfallback = \"error\"",
        )
        .unwrap();
        assert_eq!(p.encoding, Encoding::ShiftJis);
        assert_eq!(p.charset, Charset::Iso2022Jp);
        assert_eq!(p.fallback, Fallback::Error);
        // Serialized as read, so the digests that pin the settings do not move.
        assert_eq!(serde_json::to_string(&Charset::Utf8).unwrap(), "\"utf-8\"");
        assert_eq!(serde_json::to_string(&Fallback::Utf8).unwrap(), "\"utf-8\"");
    }

    #[test]
    fn a_wrong_name_is_refused_with_its_line() {
        let e = toml::from_str::<Probe>(
            "encoding = \"auto\"\ncharset = \"utf8\"\nfallback = \"error\"",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("utf-8") && e.contains("iso-2022-jp"), "{e}");
    }
}
