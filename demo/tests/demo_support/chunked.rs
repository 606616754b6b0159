//! A JSON body sent chunked, without a `Content-Length`: only reading it finds it over a limit
//! (reqwest sends a length with every body it is given whole).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// POSTs a JSON array of `size` bytes (`[`, spaces, `]`) to `path` at `host` (`ip:port`), with
/// `headers` (`name: value`) and `Transfer-Encoding: chunked`; the answer's status.
pub async fn post_chunked(host: &str, path: &str, headers: &[&str], size: usize) -> u16 {
    let mut stream = TcpStream::connect(host).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n"
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str(&format!("\r\n{size:x}\r\n"));
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut body = vec![b' '; size];
    (body[0], body[size - 1]) = (b'[', b']');
    // The server may answer and close before it has read the whole body.
    let _ = stream.write_all(&body).await;
    let _ = stream.write_all(b"\r\n0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1);
    let status = status.unwrap_or_else(|| panic!("no status line: {answer:?}"));
    status.parse().unwrap()
}
