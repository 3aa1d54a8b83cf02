//! Can bounces arrive? The return-path domain needs an MX (or, failing that, an address record,
//! the implicit MX of RFC 5321 §5.1), and not the null MX (`0 .`, RFC 7505) that refuses all mail.
//! A notice whose bounces are lost leaves the operator not knowing who was not reached.

use super::dns::{Answer, Dns};
use super::findings::{Check, Finding, Level};

pub async fn finding(dns: &Dns, domain: &str) -> Finding {
    let publish = format!("{domain} MX 10 <the host that receives your bounces>");
    match dns.mx(domain).await {
        Answer::Found(mx) => {
            let hosts: Vec<String> = mx
                .iter()
                .filter(|(_, host)| !host.is_empty())
                .map(|(pref, host)| format!("{pref} {host}"))
                .collect();
            if hosts.is_empty() {
                Finding::new(
                    Check::BounceMx,
                    Level::Error,
                    domain,
                    "null MX (\"0 .\"): the domain refuses all mail, so every bounce is lost",
                )
                .publish(publish)
            } else {
                Finding::new(
                    Check::BounceMx,
                    Level::Ok,
                    domain,
                    format!("MX {}", hosts.join(", ")),
                )
            }
        }
        Answer::Failed(e) => Finding::new(
            Check::BounceMx,
            Level::Error,
            domain,
            format!("could not look up MX {domain}: {e}"),
        ),
        Answer::NoRecords => {
            let (v4, v6) = tokio::join!(dns.ips(domain, false), dns.ips(domain, true));
            match (v4, v6) {
                (Answer::Found(a), _) | (_, Answer::Found(a)) => Finding::new(
                    Check::BounceMx,
                    Level::Warning,
                    domain,
                    format!(
                        "no MX; bounces go to the address record ({}), which must accept mail on port 25",
                        a[0]
                    ),
                )
                .publish(publish),
                (Answer::Failed(e), _) | (_, Answer::Failed(e)) => Finding::new(
                    Check::BounceMx,
                    Level::Error,
                    domain,
                    format!("no MX, and the address lookup failed: {e}"),
                ),
                _ => Finding::new(
                    Check::BounceMx,
                    Level::Error,
                    domain,
                    format!("no MX and no address for {domain}: bounces cannot arrive"),
                )
                .publish(publish),
            }
        }
    }
}
