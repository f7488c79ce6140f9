//! A minimal HTTP/1.1 client on one kept-alive connection: enough to drive the server without a
//! client library's own overhead in the measurement, and with a handle to cut the connection
//! from another thread (as a client that goes away does).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// One connection to the server.
pub struct HttpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
}

/// An answer: status, `Retry-After` in seconds if given, and the body.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `Retry-After`, in seconds.
    pub retry_after_s: Option<u64>,
    /// The body.
    pub body: String,
}

impl HttpClient {
    /// Connects (panics if the server is not there: a benchmark cannot go on without it).
    pub fn connect(address: SocketAddr) -> HttpClient {
        HttpClient::try_connect(address).expect("connect")
    }

    /// Connects.
    pub fn try_connect(address: SocketAddr) -> std::io::Result<HttpClient> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        Ok(HttpClient {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            host: address.to_string(),
        })
    }

    /// A handle on the connection, to shut it down from another thread.
    pub fn handle(&self) -> std::io::Result<TcpStream> {
        self.writer.try_clone()
    }

    /// Sends one JSON request and returns (status, body); panics on a broken connection.
    pub fn send(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        let answer = self
            .request(method, path, "application/json", body.as_bytes())
            .expect("request");
        (answer.status, answer.body)
    }

    /// Sends one request with a body of `content_type`.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        // One write, so that a small request goes in one segment (two would wake the server
        // twice per request: the measurement would be of the client's making).
        request.extend_from_slice(body);
        self.writer.write_all(&request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status in {line:?}")))?;
        let (mut length, mut retry_after_s) = (0usize, None);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value
                        .trim()
                        .parse()
                        .map_err(|_| std::io::Error::other("bad content-length"))?;
                } else if name.eq_ignore_ascii_case("retry-after") {
                    retry_after_s = value.trim().parse().ok();
                }
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok(Answer {
            status,
            retry_after_s,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}
