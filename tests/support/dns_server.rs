//! An authoritative DNS server on loopback (hickory-server, in-process) serving zones given as
//! master-file text, for tests of `tsuchi preflight --dns-server`.
//!
//! ```ignore
//! let dns = DnsServer::start(&["$ORIGIN example.jp.\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n…"]);
//! campaign.run(&["preflight", "--dns-server", &dns.addr().to_string()]);
//! ```
//!
//! It runs on a thread with its own runtime, so a plain `#[test]` can run the binary with a
//! blocking `output()` while it answers; dropping it stops the server and joins the thread.
//! UDP and TCP listen on the same port (the resolver retries truncated answers over TCP).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::LowerName;
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};

pub struct DnsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Serves each zone (master-file text with `$ORIGIN` and an SOA) on 127.0.0.1.
    pub fn start(zones: &[&str]) -> DnsServer {
        let mut catalog = Catalog::new();
        for text in zones {
            let (origin, records) = Parser::new(*text, None, None)
                .parse()
                .unwrap_or_else(|e| panic!("test zone does not parse: {e}\n{text}"));
            let handler = InMemoryZoneHandler::<TokioRuntimeProvider>::new(
                origin.clone(),
                records,
                ZoneType::Primary,
                AxfrPolicy::Deny,
            )
            .unwrap();
            let handler: Arc<dyn ZoneHandler> = Arc::new(handler);
            catalog.upsert(LowerName::new(&origin), vec![handler]);
        }
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (udp, tcp) = bind_pair().await;
                let addr = udp.local_addr().unwrap();
                let mut server = Server::new(catalog);
                server.register_socket(udp);
                server.register_listener(tcp, Duration::from_secs(5), 16);
                addr_tx.send(addr).unwrap();
                let _ = stop_rx.await;
                let _ = server.shutdown_gracefully().await;
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the test DNS server did not start");
        DnsServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A UDP socket on an ephemeral loopback port and a TCP listener on the same port (retried a
/// few times: another process may hold the TCP side of the port the UDP bind got).
async fn bind_pair() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A TXT record's value as master-file strings: quoted, split every 255 bytes (the limit of
/// one string), quotes and backslashes escaped.
pub fn txt_strings(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| {
            let s = std::str::from_utf8(c).expect("ASCII record");
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SOA and NS lines every test zone starts with.
pub fn zone_head(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n\
         @ IN SOA ns.{origin}. hostmaster.{origin}. 1 7200 3600 1209600 300\n\
         @ IN NS ns.{origin}.\n\
         ns IN A 127.0.0.1\n"
    )
}
