//! Metrics for the operations team's dashboards: `send --metrics 127.0.0.1:9184` serves the
//! run's counters and gauges as Prometheus text (OpenMetrics) at `/metrics` while the run
//! lasts.
//!
//! ```text
//! tsuchi_messages_sent_total{group="docomo",relay="primary"} 1200
//! tsuchi_in_flight 4
//! tsuchi_approval_info{campaign="kaede-2026-11",digest="9f2c…"} 1
//! ```
//!
//! The outcome counters are fed where the run's summary counts ([`super::summary::Counters`]),
//! so the dashboard and the summary never disagree. Labels are few and never personal: the
//! destination group is the recipient's group (`[[send.destinations]]`, `[send.domain_rates]`,
//! else `default`: `DestinationGroups`, the one place that decides it) — never a domain per
//! label, let alone an address; the relay is the pool's relay name, `default` for the one relay
//! of `send.smtp`. The HTTP side is
//! hyper's HTTP/1 server on the run's runtime, bounded; a scrape never waits on the workers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::send::outage::RelayHealth;

use crate::config::{DEFAULT_GROUP, DestinationGroups};

use super::summary::{Counters, Tally};

/// The relay label of a run through the one relay of `send.smtp` (or a dry run).
const DEFAULT_RELAY: &str = "default";

/// The labels of an outcome counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Destination {
    group: String,
    relay: String,
}

/// The outcome counters by destination group and relay, kept beside the summary's totals.
/// Groups are those of [`DestinationGroups`] (the one rule for which group a domain belongs
/// to): the operator's own few names, so a label never carries a recipient's own domain.
#[derive(Clone, Default)]
pub(super) struct ByDestination {
    groups: Arc<Vec<String>>,
    sent: Family<Destination, Counter>,
    deferred: Family<Destination, Counter>,
    failed: Family<Destination, Counter>,
    in_flight: Gauge,
}

impl ByDestination {
    pub(super) fn new(groups: &DestinationGroups) -> ByDestination {
        ByDestination {
            groups: Arc::new(groups.groups().iter().map(|g| g.name.clone()).collect()),
            ..ByDestination::default()
        }
    }

    /// Counts an outcome of a message to group `group` (`DestinationGroups::index_of`)
    /// through `relay` (`None`: the one relay of `send.smtp`).
    pub(super) fn count(&self, group: usize, relay: Option<&str>, tally: Tally) {
        let labels = Destination {
            group: self
                .groups
                .get(group)
                .map_or(DEFAULT_GROUP, String::as_str)
                .to_string(),
            relay: relay.unwrap_or(DEFAULT_RELAY).to_string(),
        };
        match tally {
            Tally::Sent => &self.sent,
            Tally::Deferred => &self.deferred,
            Tally::Failed => &self.failed,
        }
        .get_or_create(&labels)
        .inc();
    }

    /// Counts a message in flight until the returned guard is dropped.
    pub(super) fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }
}

/// A message handed to the transport and not yet answered.
pub(super) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The metrics address, bound before the run opens its journal so that a taken port is an
/// error before anything else happens.
pub struct MetricsListener {
    listener: std::net::TcpListener,
}

impl MetricsListener {
    pub fn bind(addr: SocketAddr) -> Result<MetricsListener> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| anyhow::anyhow!("--metrics {addr}: cannot listen: {e}"))?;
        Ok(MetricsListener { listener })
    }

    /// The address it listens on (the port, when 0 was asked for).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }
}

/// What a scrape reads besides the outcome counters.
pub(super) struct RunView {
    pub(super) counters: Arc<Counters>,
    pub(super) health: Arc<RelayHealth>,
    /// `send.rate` (0: unlimited).
    pub(super) rate_limit: f64,
    /// Messages this run expects to send, when known.
    pub(super) expected: Option<u64>,
    pub(super) campaign: String,
    /// A digest of the templates and notice settings in force: what an approval pins.
    pub(super) approval_digest: String,
}

/// The gauges a scrape sets from the run's state, and the registry they are encoded from.
struct Exposition {
    registry: Registry,
    rate: Gauge<f64, std::sync::atomic::AtomicU64>,
    pending: Gauge,
    outage: Gauge,
    retries: Counter,
    refused: Counter,
    duplicates: Counter,
    view: RunView,
    /// (when, sent) at earlier scrapes: the current rate is over the last one within a minute.
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

impl Exposition {
    fn new(view: RunView) -> Exposition {
        let mut registry = Registry::with_prefix("tsuchi");
        let d = view.counters.by_destination.clone();
        registry.register(
            "messages_sent",
            "Messages the relay accepted (2xx to the end of data) in this run",
            d.sent,
        );
        registry.register(
            "messages_deferred",
            "Recipients left deferred after their attempts in this run (temporary failures)",
            d.deferred,
        );
        registry.register(
            "messages_failed",
            "Recipients refused permanently (5xx) in this run",
            d.failed,
        );
        let refused = Counter::default();
        registry.register(
            "rows_refused",
            "Rows refused when their message was built (see tsuchi check)",
            refused.clone(),
        );
        let duplicates = Counter::default();
        registry.register(
            "possible_duplicates",
            "Recipients re-sent after an attempt whose outcome was unknown",
            duplicates.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "retries",
            "Attempts retried after a temporary failure",
            retries.clone(),
        );
        registry.register(
            "in_flight",
            "Messages handed to the relay and not yet answered",
            d.in_flight,
        );
        let rate = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "send_rate_messages_per_second",
            "Messages sent per second since the previous scrape (at most the last minute)",
            rate.clone(),
        );
        let limit = Gauge::<f64, AtomicU64>::default();
        limit.set(view.rate_limit);
        registry.register(
            "send_rate_limit_messages_per_second",
            "The configured send.rate (0: unlimited)",
            limit,
        );
        let pending = Gauge::default();
        if view.expected.is_some() {
            registry.register(
                "pending",
                "Messages this run still expects to send",
                pending.clone(),
            );
        }
        let outage = Gauge::default();
        registry.register(
            "relay_down",
            "1 while the relay is down and being probed, else 0",
            outage.clone(),
        );
        registry.register(
            "approval",
            "The campaign and the digest of the templates and notice settings in force",
            Info::new(vec![
                ("campaign".to_string(), view.campaign.clone()),
                ("digest".to_string(), view.approval_digest.clone()),
            ]),
        );
        Exposition {
            registry,
            rate,
            pending,
            outage,
            retries,
            refused,
            duplicates,
            view,
            samples: Mutex::new(VecDeque::from([(Instant::now(), 0)])),
        }
    }

    /// Brings the gauges up to date and encodes everything.
    fn render(&self) -> String {
        let c = &self.view.counters;
        let sent = c.sent.load(Ordering::Relaxed);
        let settled = sent
            + c.failed.load(Ordering::Relaxed)
            + c.deferred.load(Ordering::Relaxed)
            + c.refused.load(Ordering::Relaxed);
        if let Some(expected) = self.view.expected {
            self.pending
                .set(i64::try_from(expected.saturating_sub(settled)).unwrap_or(i64::MAX));
        }
        catch_up(&self.retries, c.retries.load(Ordering::Relaxed));
        catch_up(&self.refused, c.refused.load(Ordering::Relaxed));
        let duplicates = c
            .possible_duplicates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u64;
        catch_up(&self.duplicates, duplicates);
        self.outage
            .set(i64::from(self.view.health.outage().is_some()));
        {
            let now = Instant::now();
            let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
            while samples.len() > 1
                && samples
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60))
            {
                samples.pop_front();
            }
            if let Some(&(t, n)) = samples.back() {
                let secs = now.duration_since(t).as_secs_f64();
                if secs > 0.0 {
                    self.rate.set(sent.saturating_sub(n) as f64 / secs);
                }
            }
            samples.push_back((now, sent));
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Raises a counter to `total` (the run's own count, which only grows).
fn catch_up(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// The most scrapes served at once; more wait for the kernel's accept queue.
const MAX_CONNECTIONS: usize = 16;

/// How long a scraper may take to send its request's head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The metrics endpoint while a run lasts; stopped when dropped.
pub(super) struct MetricsServer {
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Serves on the run's runtime: HTTP/1 by hyper, one request per connection, the request's
    /// head bounded in size (hyper's buffer limit, 64 headers) and in time, at most
    /// [`MAX_CONNECTIONS`] at once. A scrape only reads counters: it never waits on a worker.
    pub(super) fn start(listener: MetricsListener, view: RunView) -> Result<MetricsServer> {
        let listener = tokio::net::TcpListener::from_std(listener.listener)?;
        let exposition = Arc::new(Exposition::new(view));
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let exposition = exposition.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let response = respond(&exposition, &request);
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    // A scraper that went away is its own problem, never the run's.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .max_headers(64)
                        .max_buf_size(64 * 1024)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(REQUEST_TIMEOUT)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                    drop(permit);
                });
            }
        });
        Ok(MetricsServer { task })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = http_body_util::Full<hyper::body::Bytes>;

/// `GET /metrics` is the exposition; anything else is 404.
fn respond<B>(exposition: &Exposition, request: &hyper::Request<B>) -> hyper::Response<Body> {
    let mut response = hyper::Response::new(Body::default());
    if request.method() == hyper::Method::GET && request.uri().path() == "/metrics" {
        *response.body_mut() = Body::from(exposition.render());
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
    } else {
        *response.status_mut() = hyper::StatusCode::NOT_FOUND;
        *response.body_mut() = Body::from("not found\n");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_shows_counts_by_group_and_gauges_without_personal_data() {
        let settings: crate::config::SendSettings =
            toml::from_str("[domain_rates]\n\"docomo.ne.jp\" = 5").unwrap();
        let groups = settings.destination_groups();
        let counters = Arc::new(Counters::for_groups(&groups));
        counters.sent.fetch_add(2, Ordering::Relaxed);
        counters.tally(groups.index_of("mail.docomo.ne.jp"), Tally::Sent, None);
        counters.tally(
            groups.index_of("person-domain.example"),
            Tally::Sent,
            Some("backup"),
        );
        counters.possible_duplicate("C000001");
        let _flight = counters.by_destination.in_flight();
        let e = Exposition::new(RunView {
            counters: counters.clone(),
            health: Arc::new(RelayHealth::new(20, Duration::from_secs(60))),
            rate_limit: 20.0,
            expected: Some(10),
            campaign: "kaede-2026-11".into(),
            approval_digest: "abc123".into(),
        });
        let text = e.render();
        assert!(
            text.contains(r#"tsuchi_messages_sent_total{group="docomo.ne.jp",relay="default"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tsuchi_messages_sent_total{group="default",relay="backup"} 1"#),
            "{text}"
        );
        assert!(text.contains("tsuchi_in_flight 1"), "{text}");
        assert!(text.contains("tsuchi_pending 8"), "{text}");
        assert!(
            text.contains("tsuchi_possible_duplicates_total 1"),
            "{text}"
        );
        assert!(text.contains("tsuchi_relay_down 0"), "{text}");
        assert!(
            text.contains("tsuchi_send_rate_limit_messages_per_second 20"),
            "{text}"
        );
        assert!(
            text.contains(r#"tsuchi_approval_info{campaign="kaede-2026-11",digest="abc123"} 1"#),
            "{text}"
        );
        assert!(
            !text.contains("person-domain") && !text.contains("C000001"),
            "{text}"
        );
        drop(_flight);
        assert!(e.render().contains("tsuchi_in_flight 0"));
    }
}
