use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::*;

const BIG: usize = 32 << 20; // far beyond loopback's socket buffers on both sides

/// A server with one connection permit: `/big` answers `BIG` bytes, anything else `ok`.
fn one_permit_server(write_timeout: Duration) -> Running {
    let listener = bind("127.0.0.1:0").unwrap();
    let conns = Connections {
        max: 1,
        header_timeout: Duration::from_secs(5),
        write_timeout,
        keep_alive: true,
    };
    let big = Bytes::from(vec![b'x'; BIG]);
    Running::start(
        listener,
        "server-test",
        "the test server",
        conns,
        false,
        Vec::new(),
        move |req, _peer| {
            let body = if req.uri().path() == "/big" {
                big.clone()
            } else {
                Bytes::from_static(b"ok")
            };
            async move { Response::new(Full::new(body)) }
        },
    )
    .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn a_client_that_does_not_take_its_answer_loses_the_connection_not_the_server() {
    let server = one_permit_server(Duration::from_millis(300));
    let addr = server.local_addr();
    // The only permit goes to a client that asks for a large answer and never reads it.
    let mut hog = TcpStream::connect(addr).unwrap();
    hog.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100)); // let the server accept it first
                                                    // Another client is served once the hog's answer is overdue and its connection is dropped
                                                    // (without the deadline it would wait forever: the permit is never returned).
    let started = Instant::now();
    let answer = get(addr, "/small").expect("the second client is served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(15));
    // The hog's connection was cut: reading it now ends (EOF or reset) short of the answer.
    hog.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let _ = hog.read_to_end(&mut got);
    assert!(got.len() < BIG, "the hog received the whole answer");
}

#[test]
fn a_client_that_reads_gets_a_large_answer_whole() {
    let server = one_permit_server(Duration::from_secs(10));
    let answer = get(server.local_addr(), "/big").unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"));
    assert!(answer.len() > BIG);
    // And the permit came back.
    assert!(get(server.local_addr(), "/small").unwrap().ends_with("ok"));
}
