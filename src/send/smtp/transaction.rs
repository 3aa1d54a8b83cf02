//! One message through MAIL, RCPT, DATA and the end of data, every reply checked against the
//! command it answers; a relay out of step ends the session.

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;

use crate::mail::message::OutgoingMessage;
use crate::send::transport::{FailureKind, SendFailure};

use super::classify::{classify, temporary};

/// How a failed transaction leaves the connection.
pub(super) enum Leave {
    /// The dialogue is still in step: say QUIT (as lettre does after a negative reply).
    Quit,
    /// The replies are out of step, or the connection broke: drop it without a word.
    Drop,
}

/// A reply that does not answer the command it follows: the relay is out of step, so no later
/// reply on this connection can be trusted. After the data was sent the outcome is unknown.
fn out_of_step(step: &str, expected: &str, response: &Response, after_data: bool) -> SendFailure {
    let text: Vec<&str> = response.message().collect();
    SendFailure {
        kind: FailureKind::Temporary,
        maybe_delivered: after_data,
        code: Some(u16::from(response.code())),
        enhanced: None,
        text: format!(
            "relay out of step: {} {} to {step} (expected {expected}); session closed",
            u16::from(response.code()),
            text.join(" ")
        ),
    }
}

fn is_2xx(response: &Response) -> bool {
    (200..300).contains(&u16::from(response.code()))
}

/// One message through MAIL, RCPT, DATA and the end of data, every reply checked against the
/// command it answers.
pub(super) async fn transaction(
    conn: &mut AsyncSmtpConnection,
    message: &OutgoingMessage,
) -> Result<Response, (SendFailure, Leave)> {
    let envelope = &message.envelope;
    // A negative reply keeps the dialogue in step; anything else (a broken connection, a
    // reply that cannot be parsed) does not.
    let leave = |e: &lettre::transport::smtp::Error| {
        if e.status().is_some() {
            Leave::Quit
        } else {
            Leave::Drop
        }
    };
    let mut options = vec![];
    let non_ascii = envelope
        .from()
        .is_some_and(|a| !AsRef::<str>::as_ref(a).is_ascii())
        || envelope
            .to()
            .iter()
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
    if non_ascii {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err((
                temporary("send: the relay does not offer SMTPUTF8 for a non-ASCII address".into()),
                Leave::Quit,
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !message.bytes.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err((
                temporary("send: the relay does not offer 8BITMIME for a non-ASCII message".into()),
                Leave::Quit,
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    // MAIL FROM: the sender is the same for every recipient, so a 5xx here refuses them all.
    match conn
        .command(Mail::new(envelope.from().cloned(), options))
        .await
    {
        Ok(r) if is_2xx(&r) => {}
        Ok(r) => return Err((out_of_step("MAIL FROM", "2xx", &r, false), Leave::Drop)),
        Err(e) => {
            let mut f = classify(&e, "MAIL FROM");
            if f.kind == FailureKind::Permanent {
                f.kind = FailureKind::Relay;
            }
            return Err((f, leave(&e)));
        }
    }
    for to in envelope.to() {
        match conn.command(Rcpt::new(to.clone(), vec![])).await {
            Ok(r) if is_2xx(&r) => {}
            Ok(r) => return Err((out_of_step("RCPT TO", "2xx", &r, false), Leave::Drop)),
            Err(e) => return Err((classify(&e, "RCPT TO"), leave(&e))),
        }
    }
    match conn.command(Data).await {
        Ok(r) if u16::from(r.code()) == 354 => {}
        Ok(r) => return Err((out_of_step("DATA", "354", &r, false), Leave::Drop)),
        Err(e) => return Err((classify(&e, "DATA"), leave(&e))),
    }
    match conn.message(&message.bytes).await {
        Ok(r) if is_2xx(&r) => Ok(r),
        Ok(r) => Err((out_of_step("the end of data", "2xx", &r, true), Leave::Drop)),
        Err(e) => Err((classify(&e, "send"), leave(&e))),
    }
}
