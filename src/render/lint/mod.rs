//! The no-link lint: finds anything in a notice that a mail client could turn into a link.
//!
//! A breach notice must carry no URL, no domain name and no e-mail address (README.md,
//! "Recipients CSV": a mail client turns any of them into a link, and a link is what phishing
//! looks like). Recipient data is interpolated into the notice, so the lint
//! runs on every rendered message (and on the template sources), and it errs on the side of
//! refusal: `J.Smith` is reported as a domain name, because refusing a row is cheap and sending a
//! link is not.
//!
//! The text is checked after NFKC normalization, which turns full-width forms such as
//! `ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ` or `ｘ＠ｙ．ｊｐ` into ASCII. The ideographic full stops `。`
//! (U+3002) and `｡` (U+FF61, which NFKC maps to U+3002) count as dots when they stand between
//! two ASCII letters, digits, hyphens or underscores (`example。com`), or between a name in
//! another script and a top-level domain (`例え。jp`, `例え。JP`): IDNA treats them as label
//! separators.
//!
//! What is reported:
//! - URLs with a scheme (`word://…`, and `javascript:`, `vbscript:`, `data:…/…`) → [`LinkKind::Url`];
//! - `mailto:` and e-mail addresses `local@host.tld` → [`LinkKind::Email`];
//! - `www.` followed by a label → [`LinkKind::Www`];
//! - domain names `label.label…` where some label after the first is ASCII-alphabetic with at
//!   least two letters or a punycode label `xn--…` (no TLD list: `foo.museum`, `a.bc`,
//!   `evil.xn--p1ai`, also IDN-looking `例え.jp`) → [`LinkKind::Domain`];
//! - names under a non-ASCII top-level domain of the public suffix list (`пример.рф`,
//!   `例え.みんな`, `楓サポート。コム`, in any case), when the label after the dot is exactly
//!   that top-level domain (`1.健康被害` is prose) → [`LinkKind::Domain`];
//! - IPv4 addresses (exactly four dot-separated numbers 0–255) and IPv6 addresses
//!   (`2001:db8::1`, `[::1]`) → [`LinkKind::IpAddress`];
//! - invisible characters — Unicode's default-ignorable code points and the other format
//!   characters (zero-width spaces, bidi controls, variation selectors, tags, U+FFF9…), which can
//!   make `kaede-support.co\u{FE0F}m` display as `kaede-support.com` — except a variation
//!   selector right after a CJK ideograph (`渡邉` + U+E0100 picks a glyph) → [`LinkKind::Invisible`];
//! - anything else the `linkify` crate finds (a safety net).
//!
//! Not reported: times (`9:00〜20:00`, `12:30:45`), dates (`2026.11.25`), phone numbers,
//! `No.1`, `Ver.2.0`, `e.g.`, `TEL:0120-…`, an initial followed by a space (`J. Smith`), the
//! Japanese middle dot `・` (`ジョン・スミス`).

//!
//! The pieces: the pre-scan that lets clean text through without normalizing it
//! ([`prescan`](mod@prescan)), NFKC ([`normalize`]), and one scanner per trigger on the normalized
//! text — dotted names ([`domains`]), `@` ([`email`](mod@email)), `:` ([`schemes`], then [`ipv6`]),
//! invisible characters ([`invisible`]) — with `linkify` behind them ([`safety_net`]).

mod domains;
mod email;
mod invisible;
mod ipv6;
mod normalize;
mod prescan;
mod safety_net;
mod schemes;

use std::borrow::Cow;
use std::fmt;

use domains::{dotted_run, ideo_stop_is_dot, idn_top_level_domains};
use email::email;
pub(crate) use invisible::invisible_char;
use invisible::{invisible_chars, is_invisible};
use normalize::nfkc;
use prescan::prescan;
use safety_net::linkify_safety_net;
use schemes::colon;

/// What kind of link-like text was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// A URL with a scheme (`https://…`, `ftp://…`, `javascript:…`) or a host with a path.
    Url,
    /// A host name starting with `www.`.
    Www,
    /// A bare domain name (`example.co.jp`).
    Domain,
    /// An e-mail address or a `mailto:` link.
    Email,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// An invisible character (a zero-width space, a variation selector after a Latin letter,
    /// a bidi control…): it can hide a link from the eye (`kaede-support.co\u{FE0F}m` displays
    /// as `kaede-support.com`), so it is refused wherever it stands.
    Invisible,
}

impl LinkKind {
    pub fn describe(&self) -> &'static str {
        match self {
            LinkKind::Url => "a URL",
            LinkKind::Www => "a web address",
            LinkKind::Domain => "a domain name",
            LinkKind::Email => "an e-mail address",
            LinkKind::IpAddress => "an IP address",
            LinkKind::Invisible => "an invisible character",
        }
    }

    /// Tie-break among findings with the same span: lower wins.
    fn rank(&self) -> u8 {
        match self {
            LinkKind::Url => 0,
            LinkKind::Email => 1,
            LinkKind::Www => 2,
            LinkKind::IpAddress => 3,
            LinkKind::Domain => 4,
            LinkKind::Invisible => 5,
        }
    }
}

/// One piece of link-like text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFinding {
    /// What it looks like.
    pub kind: LinkKind,
    /// Offset in characters (not bytes) in the NFKC-normalized text.
    pub start: usize,
    /// The matched text after NFKC, cut to [`MAX_SNIPPET_CHARS`] characters (then ending in `…`).
    pub snippet: String,
}

/// Longest snippet kept in a [`LinkFinding`], in characters (before the `…`).
pub const MAX_SNIPPET_CHARS: usize = 40;

impl fmt::Display for LinkFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.kind.describe(), self.snippet)
    }
}

/// The first link-like text in `text` (in reading order), or `None` if the text is clean.
pub fn find_link(text: &str) -> Option<LinkFinding> {
    find_links(text).into_iter().next()
}

/// All link-like text in `text`, in reading order, without overlaps.
pub fn find_links(text: &str) -> Vec<LinkFinding> {
    let scan = prescan(text);
    // Stable text is ASCII and common Japanese, which holds no invisible character.
    let may_hide = !scan.stable && text.chars().any(is_invisible);
    if !scan.may_link && !may_hide {
        return Vec::new();
    }
    let normalized: Cow<'_, str> = if scan.stable {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(nfkc(text))
    };
    let s: &str = &normalized;

    let (mut spans, linkify_may_find) = if scan.may_link {
        scan_spans(s, scan.ideo_dot)
    } else {
        (Vec::new(), false)
    };
    if scan.may_link {
        idn_top_level_domains(s, &mut spans);
    }
    if linkify_may_find {
        linkify_safety_net(s, &mut spans);
    }
    if may_hide {
        invisible_chars(s, &mut spans);
    }
    if spans.is_empty() {
        return Vec::new();
    }
    spans.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.kind.rank().cmp(&b.kind.rank()))
    });

    let mut out = Vec::new();
    let mut covered = 0usize; // byte offset up to which the text is already reported
    let mut chars_before = 0usize; // chars in s[..counted]
    let mut counted = 0usize;
    for span in spans {
        if span.start < covered {
            continue;
        }
        chars_before += s[counted..span.start].chars().count();
        counted = span.start;
        covered = span.end;
        let snippet = match span.kind {
            // The char itself would show nothing: name its code point.
            LinkKind::Invisible => s[span.start..]
                .chars()
                .next()
                .map(|c| format!("U+{:04X}", c as u32))
                .unwrap_or_default(),
            _ => snippet(&s[span.start..span.end]),
        };
        out.push(LinkFinding {
            kind: span.kind,
            start: chars_before,
            snippet,
        });
    }
    out
}

fn snippet(matched: &str) -> String {
    match matched.char_indices().nth(MAX_SNIPPET_CHARS) {
        None => matched.to_string(),
        Some((cut, _)) => format!("{}…", &matched[..cut]),
    }
}

// ---------------------------------------------------------------------------------------------
// The scanner, on NFKC text.

/// A finding of one scanner: byte offsets in the NFKC text.
#[derive(Debug)]
struct Span {
    kind: LinkKind,
    start: usize,
    end: usize,
}

const IDEO_STOP: &str = "\u{3002}"; // 。

fn char_before(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The scanner's findings, and whether `linkify` might find anything more.
fn scan_spans(s: &str, ideo_dot: bool) -> (Vec<Span>, bool) {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut linkify_may_find = false;

    // Dots ('.' and ideographic full stops acting as dots), in order; each run is examined once.
    let mut dots: Vec<usize> = s.match_indices('.').map(|(i, _)| i).collect();
    linkify_may_find |= !dots.is_empty();
    let n_ascii = dots.len();
    if ideo_dot {
        dots.extend(
            s.match_indices(IDEO_STOP)
                .map(|(i, _)| i)
                .filter(|&i| ideo_stop_is_dot(s, i)),
        );
    }
    if dots.len() > n_ascii {
        dots.sort_unstable();
    }
    let mut dotted_done = 0;
    for i in dots {
        if i >= dotted_done {
            dotted_done = dotted_run(s, i, &mut spans);
        }
    }
    for (i, _) in s.match_indices('@') {
        linkify_may_find = true;
        email(s, i, &mut spans);
    }
    for (i, _) in s.match_indices(':') {
        // Only a scheme (ending in a letter, '+' or '-') before a colon can start a link for
        // linkify; `9:00` or `時間:` cannot.
        linkify_may_find |= i > 0 && (b[i - 1].is_ascii_alphabetic() || b"+-".contains(&b[i - 1]));
        colon(s, i, &mut spans);
    }
    (spans, linkify_may_find)
}
