//! The mock KDS: a tiny HTTP/1.1 server on std::net, one response per connection, answering
//! each request from the test's handler and recording what was asked.

use super::*;

#[derive(Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) delay: Duration,
}

impl Reply {
    pub(crate) fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![],
            body,
            delay: Duration::ZERO,
        }
    }
    pub(crate) fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: format!("status {status}").into_bytes(),
            delay: Duration::ZERO,
        }
    }
    pub(crate) fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub(crate) fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

pub(crate) type Handler = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// A mock KDS: `handler(path_and_query, n)` answers the n-th request (0-based).
pub(crate) struct MockKds {
    pub(crate) addr: SocketAddr,
    pub(crate) requests: Arc<Mutex<Vec<String>>>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) accept_thread: Option<thread::JoinHandle<()>>,
}

impl MockKds {
    pub(crate) fn start(handler: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> MockKds {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, stop2) = (requests.clone(), stop.clone());
        let accept_thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (reqs, handler) = (reqs.clone(), handler.clone());
                thread::spawn(move || serve(conn, &reqs, &*handler));
            }
        });
        MockKds {
            addr,
            requests,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Stop accepting: later connections are refused.
    pub(crate) fn shut_down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.accept_thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for MockKds {
    fn drop(&mut self) {
        self.shut_down();
    }
}

pub(crate) fn serve(conn: TcpStream, reqs: &Mutex<Vec<String>>, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return; // the shut-down wake-up connection
    }
    // Drain the headers (bounded: the client sends a handful).
    for _ in 0..100 {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_owned();
    let n = {
        let mut r = reqs.lock().unwrap();
        r.push(path.clone());
        r.len() - 1
    };
    let reply = handler(&path, n);
    thread::sleep(reply.delay);
    let mut head = format!(
        "HTTP/1.1 {} Mock\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut w = conn;
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(&reply.body);
    let _ = w.flush();
    // Let the client read before the socket closes.
    let _ = w.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 64];
    let _ = reader.get_mut().read(&mut sink);
}
