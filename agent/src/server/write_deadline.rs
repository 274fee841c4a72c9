//! A deadline on delivering each answer, under hyper.
//!
//! hyper's HTTP/1 server bounds how long a client may take to *send* a request head
//! (`header_read_timeout`), and both servers bound the body read themselves. Nothing bounds how
//! long a client may take to *take* an answer: a client that pipelines requests and never reads
//! fills its receive window and the server's send buffer, after which hyper's write waits
//! forever and the connection keeps one of the server's few permits. Enough such clients shut
//! everyone else out. A client that reads one byte now and then is no better: every write makes
//! a little progress, so a "no progress for N seconds" rule would never fire.
//!
//! [`WriteDeadline`] therefore bounds *delivery*: the clock starts with the first write after
//! the connection was last flushed (hyper flushes once per answer) and stops when a flush
//! completes. If the answer is not in the kernel's hands by then, writes fail with
//! [`std::io::ErrorKind::TimedOut`], hyper ends the connection and its permit is released.
//! Reads pass through untouched; the time between answers is the header timeout's business.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// An I/O stream whose answers must be delivered within `limit` each.
///
/// The common case costs one clock read per answer: a timer is only registered when a write
/// actually has to wait for the client (so the task is woken when time is up).
#[derive(Debug)]
pub(crate) struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    /// When the answer now being written is due; `None` while nothing is owed (everything
    /// written so far has been flushed).
    due: Option<Instant>,
    /// The timer for `due`, armed only once a write or flush has returned `Pending`.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteDeadline<T> {
    pub(crate) fn new(inner: T, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            due: None,
            timer: None,
        }
    }

    fn overdue(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client did not take the answer within {:?}", self.limit),
        )
    }

    /// Before an operation: start the clock if nothing was owed, and fail if time is up.
    fn before(&mut self) -> io::Result<()> {
        let now = Instant::now();
        let due = *self.due.get_or_insert(now + self.limit);
        if now >= due {
            return Err(self.overdue());
        }
        Ok(())
    }

    /// After an operation: if it must wait for the client, make sure the task is also woken
    /// when time is up (and fail if it already is).
    fn after<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if r.is_ready() {
            return r;
        }
        let Some(due) = self.due else {
            return r;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(self.overdue())),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Everything owed is with the kernel: nothing is owed until the next write.
    fn settled(&mut self) {
        self.due = None;
        self.timer = None;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.before()?;
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.before()?;
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.before()?;
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            self.settled();
        }
        self.after(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing is bounded too: a FIN queued behind unread data must not wait forever.
        self.before()?;
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.after(cx, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_reader_that_keeps_up_is_never_cut_off() {
        rt().block_on(async {
            let (a, mut b) = tokio::io::duplex(64);
            let mut w = WriteDeadline::new(a, Duration::from_millis(200));
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                b.read_to_end(&mut got).await.map(|_| got)
            });
            // Many answers, each delivered and flushed; together they take longer than the
            // limit, which must not matter: the clock restarts with every flush.
            for i in 0..20u8 {
                w.write_all(&[i; 100]).await.unwrap();
                w.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            w.shutdown().await.unwrap();
            drop(w);
            let got = reader.await.unwrap().unwrap();
            assert_eq!(got.len(), 2000);
        });
    }

    #[test]
    fn a_client_that_never_reads_is_cut_off_at_the_limit() {
        rt().block_on(async {
            let (a, _b) = tokio::io::duplex(64); // `_b` is kept open and never read
            let mut w = WriteDeadline::new(a, Duration::from_millis(100));
            let e = w.write_all(&[0u8; 4096]).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        });
    }

    #[test]
    fn a_trickling_reader_is_cut_off_too() {
        rt().block_on(async {
            let (a, mut b) = tokio::io::duplex(16);
            let mut w = WriteDeadline::new(a, Duration::from_millis(150));
            // One byte every 10 ms: every write makes progress, yet the answer (4 KiB) would
            // take 40 s to deliver.
            let trickle = tokio::spawn(async move {
                let mut one = [0u8; 1];
                while b.read_exact(&mut one).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            let r = async {
                w.write_all(&[0u8; 4096]).await?;
                w.flush().await
            }
            .await;
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
            drop(w);
            trickle.await.unwrap();
        });
    }
}
