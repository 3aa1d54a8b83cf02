//! The safety net: whatever the `linkify` crate finds that the scanner did not.

use super::{LinkKind, Span};

/// Whatever `linkify` finds and the scanner did not: a safety net.
pub(super) fn linkify_safety_net(s: &str, spans: &mut Vec<Span>) {
    thread_local! {
        static FINDER: linkify::LinkFinder = {
            let mut f = linkify::LinkFinder::new();
            f.url_must_have_scheme(false);
            f.kinds(&[linkify::LinkKind::Url, linkify::LinkKind::Email]);
            f
        };
    }
    FINDER.with(|finder| {
        for link in finder.links(s) {
            let (start, end) = (link.start(), link.end());
            if spans.iter().any(|sp| sp.start < end && start < sp.end) {
                continue;
            }
            let kind = match link.kind() {
                linkify::LinkKind::Email => LinkKind::Email,
                _ => LinkKind::Url,
            };
            spans.push(Span { kind, start, end });
        }
    });
}
