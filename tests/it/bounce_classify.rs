//! `bounce::classify` on realistic DSNs, auto-replies and junk; VERP.

use std::path::PathBuf;

use proptest::prelude::*;
use tsuchi::mail::{verp_address, verp_reference};
use tsuchi::report::{Classification, Dsn, classify};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bounce")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn only_failed(raw: &[u8]) -> Dsn {
    match classify(raw).as_slice() {
        [Classification::Failed(d)] => d.clone(),
        other => panic!("expected one Failed, got {other:#?}"),
    }
}

fn only_ignored(raw: &[u8]) -> String {
    match classify(raw).as_slice() {
        [Classification::Ignored(reason)] => reason.clone(),
        other => panic!("expected one Ignored, got {other:#?}"),
    }
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    String::from_utf8(raw.to_vec())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes()
}

#[test]
fn postfix_dsn_with_quoted_headers() {
    let raw = fixture("postfix_failed.eml");
    for raw in [raw.clone(), to_crlf(&raw)] {
        let d = only_failed(&raw);
        assert_eq!(d.status, "5.1.1");
        assert_eq!(d.action, "failed");
        assert!(d.is_permanent());
        assert_eq!(
            d.final_recipient.as_deref(),
            Some("taro.yamada@mail.example.ne.jp")
        );
        assert_eq!(
            d.original_recipient.as_deref(),
            Some("taro.yamada@mail.example.ne.jp")
        );
        assert_eq!(d.remote_mta.as_deref(), Some("mx.mail.example.ne.jp"));
        // Folded Diagnostic-Code is unfolded, otherwise kept as is.
        assert_eq!(
            d.diagnostic.as_deref(),
            Some(
                "smtp; 550 5.1.1 <taro.yamada@mail.example.ne.jp>: Recipient address rejected: \
                 User unknown"
            )
        );
        // Message-ID in the text/rfc822-headers part, folded onto the next line.
        assert_eq!(
            d.original_message_id.as_deref(),
            Some("<20241126.0001.k7d2m9@notice.example.jp>")
        );
        assert_eq!(d.envelope_to.as_deref(), Some("bounce@notice.example.jp"));
        assert_eq!(d.original_envelope_id, None);
    }
}

#[test]
fn dsn_without_quoted_headers_matches_by_verp_only() {
    let d = only_failed(&fixture("failed_no_headers_verp.eml"));
    // `Action: FAILED`, `Status: 5.1.1 (comment)`, `RFC822; <addr>`.
    assert_eq!(d.action, "failed");
    assert_eq!(d.status, "5.1.1");
    assert_eq!(
        d.final_recipient.as_deref(),
        Some("hanako..sato.@carrier.example.jp")
    );
    assert_eq!(d.original_message_id, None);
    // Delivered-To/X-Original-To were rewritten by an alias; To: still has the VERP address.
    assert_eq!(
        d.envelope_to.as_deref(),
        Some("bounce+ABCD-EFGH-JKLM@notice.example.jp")
    );
    let reference = verp_reference("bounce@notice.example.jp", d.envelope_to.as_ref().unwrap());
    assert_eq!(reference.as_deref(), Some("ABCD-EFGH-JKLM"));
}

#[test]
fn delayed_dsn_with_returned_message() {
    let c = classify(&fixture("delayed.eml"));
    let [Classification::Delayed(d)] = c.as_slice() else {
        panic!("expected one Delayed, got {c:#?}");
    };
    assert_eq!(d.action, "delayed");
    assert_eq!(d.status, "4.4.7");
    assert!(!d.is_permanent());
    assert_eq!(
        d.final_recipient.as_deref(),
        Some("jiro@slow.example.co.jp")
    );
    assert_eq!(
        d.original_message_id.as_deref(),
        Some("<20241126.0002.q8z1x4@notice.example.jp>")
    );
    assert_eq!(
        d.envelope_to.as_deref(),
        Some("bounce+QRST-UVWX-YZ23@notice.example.jp")
    );
    assert!(
        d.diagnostic
            .as_deref()
            .unwrap()
            .contains("Connection timed out")
    );
}

#[test]
fn dsn_with_several_recipients_yields_each_failed_one() {
    let c = classify(&fixture("two_recipients.eml"));
    let [Classification::Failed(a), Classification::Failed(b)] = c.as_slice() else {
        panic!("expected two Failed, got {c:#?}");
    };
    assert_eq!(
        a.final_recipient.as_deref(),
        Some("a.suzuki@isp.example.ne.jp")
    );
    assert_eq!(a.status, "5.2.2");
    assert_eq!(a.remote_mta.as_deref(), Some("mbox1.isp.example.ne.jp"));
    assert_eq!(
        b.final_recipient.as_deref(),
        Some("b.tanaka@isp.example.ne.jp")
    );
    assert_eq!(b.status, "5.1.1");
    assert_eq!(
        b.diagnostic.as_deref(),
        Some("smtp; 550 5.1.1 <b.tanaka@isp.example.ne.jp>... User unknown")
    );
    for d in [a, b] {
        assert_eq!(
            d.original_message_id.as_deref(),
            Some("<20241128.0003.multi@notice.example.jp>")
        );
        assert_eq!(
            d.original_envelope_id.as_deref(),
            Some("TSUCHI-20241128-0003")
        );
        assert_eq!(
            d.envelope_to.as_deref(),
            Some("bounce+MULT-IREC-IPNT@notice.example.jp")
        );
    }
}

#[test]
fn auto_replies_are_ignored() {
    let raw = fixture("autoreply_fuzai.eml");
    assert_eq!(
        only_ignored(&raw),
        "auto-reply (Auto-Submitted: auto-replied)"
    );

    // Without Auto-Submitted, the ISO-2022-JP subject 不在通知 still gives it away.
    let text = String::from_utf8(raw).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("Auto-Submitted:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        only_ignored(without.as_bytes()),
        "auto-reply (subject contains 不在)"
    );

    let with_x = without.replacen("Subject:", "X-Autoreply: yes\nSubject:", 1);
    assert_eq!(only_ignored(with_x.as_bytes()), "auto-reply (X-Autoreply)");

    let utf8 = "From: a@example.jp\nTo: bounce@notice.example.jp\nSubject: \
                =?UTF-8?B?44CQ6Ieq5YuV5b+c562U44CR?=\n\nただいま席を外しております。\n";
    assert_eq!(
        only_ignored(utf8.as_bytes()),
        "auto-reply (subject contains 自動応答)"
    );

    let precedence = "From: a@example.jp\nPrecedence: auto_reply\nSubject: Re: notice\n\nhi\n";
    assert_eq!(
        only_ignored(precedence.as_bytes()),
        "auto-reply (Precedence: auto_reply)"
    );
}

#[test]
fn dsn_for_an_unknown_message_is_still_failed() {
    let d = only_failed(&fixture("unknown_message.eml"));
    assert_eq!(
        d.final_recipient.as_deref(),
        Some("nobody@gone.example.com")
    );
    assert_eq!(
        d.original_message_id.as_deref(),
        Some("<someone.elses.message@other.example.com>")
    );
    assert_eq!(d.envelope_to.as_deref(), Some("bounce@notice.example.jp"));
    assert_eq!(
        verp_reference("bounce@notice.example.jp", d.envelope_to.as_ref().unwrap()),
        None
    );
}

#[test]
fn message_id_from_per_message_field_when_nothing_is_returned() {
    let raw = String::from_utf8(fixture("unknown_message.eml")).unwrap();
    let end = raw
        .rfind("--000000000000dsn01\nContent-Type: message/rfc822")
        .unwrap();
    let no_return = format!("{}--000000000000dsn01--\n", &raw[..end]);
    let d = only_failed(no_return.as_bytes());
    assert_eq!(
        d.original_message_id.as_deref(),
        Some("<someone.elses.message@other.example.com>")
    );
}

#[test]
fn non_rfc3464_bounce_and_plain_mail_are_not_dsns() {
    assert_eq!(
        only_ignored(&fixture("exim_legacy.eml")),
        "not a delivery status notification (looks like a non-RFC 3464 bounce)"
    );
    let plain = "From: someone@example.jp\nTo: bounce@notice.example.jp\nSubject: 質問\n\n\
                 届きました。\n";
    assert_eq!(
        only_ignored(plain.as_bytes()),
        "not a delivery status notification"
    );
}

#[test]
fn other_actions_and_missing_fields() {
    let raw = String::from_utf8(fixture("postfix_failed.eml")).unwrap();
    let relayed = raw.replace("Action: failed", "Action: relayed");
    assert_eq!(only_ignored(relayed.as_bytes()), "DSN action relayed");
    let delivered = raw.replace("Action: failed", "Action: delivered");
    assert_eq!(only_ignored(delivered.as_bytes()), "DSN action delivered");

    // Action: failed with a 4.x.x status: Failed, soft.
    let soft = raw.replace("Status: 5.1.1", "Status: 4.4.1");
    let d = only_failed(soft.as_bytes());
    assert_eq!(d.status, "4.4.1");
    assert!(!d.is_permanent());

    // No Status field: taken from the Diagnostic-Code.
    let no_status = raw.replace("Status: 5.1.1\n", "");
    assert_eq!(only_failed(no_status.as_bytes()).status, "5.1.1");

    // No Action field: inferred from the status class.
    let no_action = raw.replace("Action: failed\n", "");
    assert_eq!(only_failed(no_action.as_bytes()).action, "failed");

    // No recipient blocks at all.
    let start = raw.find("Final-Recipient:").unwrap();
    let end = raw.find("\n--4XyZ1k2m3nz9sT.1732583703/relay.notice.example.jp\nContent-Description: Undelivered").unwrap();
    let empty_report = format!("{}{}", &raw[..start], &raw[end..]);
    assert_eq!(
        only_ignored(empty_report.as_bytes()),
        "DSN without a failed or delayed recipient"
    );
}

#[test]
fn truncated_garbage_and_empty_messages_do_not_crash() {
    // Cut in the middle of the delivery-status part, before the Action field.
    let raw = fixture("postfix_failed.eml");
    let text = String::from_utf8(raw.clone()).unwrap();
    let cut = text.find("Action: failed").unwrap();
    let c = classify(&raw[..cut]);
    assert_eq!(c.len(), 1);
    assert!(
        matches!(&c[0], Classification::Ignored(r) if r == "DSN without a failed or delayed recipient"),
        "{c:#?}"
    );
    // Cut just after the Status field: the recipient is still readable.
    let cut = text.find("Remote-MTA:").unwrap();
    let d = only_failed(&raw[..cut]);
    assert_eq!(d.status, "5.1.1");
    assert_eq!(d.original_message_id, None);
    // Cut before the delivery-status part.
    let cut = text.find("Content-Description: Delivery report").unwrap();
    assert!(only_ignored(&raw[..cut]).starts_with("DSN without a delivery-status part"));
    // Every prefix: never a panic, never an empty result.
    for n in (0..raw.len()).step_by(7) {
        assert!(!classify(&raw[..n]).is_empty());
    }

    assert_eq!(only_ignored(b""), "empty message");
    assert_eq!(only_ignored(b"\r\n\r\n  \n"), "empty message");

    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let reason = only_ignored(&garbage);
    assert!(
        reason == "unparsable message" || reason == "not a delivery status notification",
        "{reason}"
    );
}

#[test]
fn base64_encoded_delivery_status_part() {
    let raw = String::from_utf8(fixture("two_recipients.eml")).unwrap();
    let start = raw.find("reporting-mta:").unwrap();
    let end = raw
        .find("\n--b1_two\nContent-Type: text/rfc822-headers")
        .unwrap();
    let body = &raw[start..end];
    let encoded = base64(body.as_bytes());
    let raw = format!(
        "{}Content-Transfer-Encoding: base64\n\n{}\n{}",
        &raw[..start - 1],
        encoded,
        &raw[end..]
    );
    let c = classify(raw.as_bytes());
    assert_eq!(c.len(), 2, "{c:#?}");
    assert_eq!(c[1].dsn().unwrap().status, "5.1.1");
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push('\n');
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn verp_round_trip_and_rejections() {
    let rp = "bounce@notice.example.jp";
    let a = verp_address(rp, "ABCD-EFGH-JKLM");
    assert_eq!(a, "bounce+ABCD-EFGH-JKLM@notice.example.jp");
    assert_eq!(verp_reference(rp, &a).as_deref(), Some("ABCD-EFGH-JKLM"));
    assert_eq!(
        verp_reference(rp, "<Bounce+ABCD-EFGH-JKLM@NOTICE.Example.JP>").as_deref(),
        Some("ABCD-EFGH-JKLM")
    );
    assert_eq!(verp_reference(rp, "bounce@notice.example.jp"), None);
    assert_eq!(verp_reference(rp, "bounce+@notice.example.jp"), None);
    assert_eq!(verp_reference(rp, "bounces+X@notice.example.jp"), None);
    assert_eq!(verp_reference(rp, "bounce-X@notice.example.jp"), None);
    assert_eq!(verp_reference(rp, "bounce+X@other.example.jp"), None);
    assert_eq!(verp_reference(rp, "not an address"), None);
    assert_eq!(verp_reference(rp, "ü+X@notice.example.jp"), None);
}

proptest! {
    #[test]
    fn classify_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(!classify(&raw).is_empty());
    }

    #[test]
    fn classify_never_panics_on_mangled_dsns(
        cut in 0usize..3000,
        pos in 0usize..3000,
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut raw = fixture("two_recipients.eml");
        let pos = pos.min(raw.len());
        raw.splice(pos..pos, junk);
        raw.truncate(cut.min(raw.len()));
        prop_assert!(!classify(&raw).is_empty());
    }

    #[test]
    fn verp_round_trips(
        local in "[a-z][a-z0-9._-]{0,20}",
        domain in "[a-z0-9-]{1,20}(\\.[a-z]{2,6}){1,2}",
        reference in "[A-Za-z0-9][A-Za-z0-9+-]{0,30}",
    ) {
        let rp = format!("{local}@{domain}");
        let addr = verp_address(&rp, &reference);
        prop_assert_eq!(verp_reference(&rp, &addr), Some(reference.clone()));
        prop_assert_eq!(
            verp_reference(&rp, &addr.to_uppercase()),
            Some(reference.to_uppercase())
        );
    }
}
