//! A bound on what the relay may send: the socket under every SMTP connection (under TLS
//! too) refuses to read past a budget between two of our writes.

use std::pin::Pin;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most the relay may send between two of our writes. An SMTP reply is at most a few
/// kilobytes (lettre refuses lines over 1,000 bytes and replies over 100,000, but only once a
/// line has ended); a TLS handshake's certificates some tens. Without this cap a relay that
/// sends a line without end grows the reply buffer until memory runs out.
pub const MAX_UNASKED_BYTES: usize = 256 * 1024;

/// A socket that refuses to read more than [`MAX_UNASKED_BYTES`] since our last write, with a
/// clear error. It sits under TLS too, so it counts the bytes on the wire.
#[derive(Debug)]
pub struct Bounded<S> {
    inner: S,
    since_write: usize,
}

impl<S> Bounded<S> {
    pub fn new(inner: S) -> Bounded<S> {
        Bounded {
            inner,
            since_write: 0,
        }
    }
}

fn too_long() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "reply too long: the relay sent more than {} KiB without a line end, or without \
             waiting for our next command",
            MAX_UNASKED_BYTES / 1024
        ),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.since_write >= MAX_UNASKED_BYTES {
            return Poll::Ready(Err(too_long()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = buf.filled().len() - before;
            self.since_write = self.since_write.saturating_add(n);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.since_write = 0;
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Bounded<tokio::net::TcpStream> {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

/// lettre's TLS stream (a futures-io stream) as a tokio stream, so that implicit TLS runs over
/// a [`Bounded`] socket too: lettre only wraps sockets it opened itself.
#[allow(deprecated)] // lettre's `AsyncNetworkStream` is public but deprecated
#[derive(Debug)]
pub(super) struct TlsOverBounded(pub(super) lettre::transport::smtp::client::AsyncNetworkStream);

#[allow(deprecated)]
impl AsyncRead for TlsOverBounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[allow(deprecated)]
impl AsyncWrite for TlsOverBounded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for TlsOverBounded {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reply_line_without_end_is_cut_off_and_a_write_resets_the_budget() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (client, mut relay) = tokio::io::duplex(64 * 1024);
        let feeder = tokio::spawn(async move {
            // Twice the budget in one line, then stop.
            let chunk = vec![b'x'; 16 * 1024];
            for _ in 0..(2 * MAX_UNASKED_BYTES / chunk.len()) {
                if relay.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let mut reader = BufReader::new(Bounded::new(client));
        let mut line = String::new();
        let e = reader.read_line(&mut line).await.unwrap_err();
        assert!(e.to_string().contains("without a line end"), "{e}");
        assert!(line.len() <= MAX_UNASKED_BYTES + 16 * 1024);
        feeder.abort();

        // Replies that end, with our writes in between, may add up to any size.
        let (client, mut relay) = tokio::io::duplex(64 * 1024);
        let mut bounded = BufReader::new(Bounded::new(client));
        for _ in 0..(3 * MAX_UNASKED_BYTES / 1000) {
            relay.write_all(&[b'2'; 999]).await.unwrap();
            relay.write_all(b"\n").await.unwrap();
            let mut line = String::new();
            bounded.read_line(&mut line).await.unwrap();
            assert_eq!(line.len(), 1000);
            bounded.get_mut().write_all(b"NOOP\r\n").await.unwrap();
        }
    }
}
