//! A loopback OpenAI-compatible model for real-OpenCode tests: std threads, no async runtime.
//!
//! `POST /v1/chat/completions` answers [`MockModel::REPLY`], streamed as `chat.completion.chunk` SSE events
//! paced [`MockModel::CHUNK_DELAY`] apart when the request says `"stream": true` (OpenCode always does), or as
//! one `chat.completion` otherwise. `GET /v1/models` lists the one model, `echo`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The running mock. Dropping it stops the accept loop.
pub struct MockModel {
    port: u16,
    stop: Arc<AtomicBool>,
    completions: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl MockModel {
    /// The text every completion answers.
    pub const REPLY: &'static str = "Hello from the plue mock model, streamed in five chunks.";
    /// A prompt containing this makes the model call the `bash` tool (see the fixture's `permission` config).
    pub const TOOL_TRIGGER: &'static str = "PLUE_TOOL";
    /// A prompt containing this streams the reply [`MockModel::SLOW_CHUNK_DELAY`] apart, so a test can act
    /// mid-reply even on a loaded machine.
    pub const SLOW_TRIGGER: &'static str = "PLUE_SLOW";
    /// The pause between chunks of a slow reply.
    pub const SLOW_CHUNK_DELAY: Duration = Duration::from_secs(2);
    /// The pause between streamed chunks, so a client can see the answer arrive in pieces.
    pub const CHUNK_DELAY: Duration = Duration::from_millis(120);

    /// The reply split into the chunks it is streamed as.
    pub fn chunks() -> Vec<&'static str> {
        let r = Self::REPLY;
        // Five pieces at word boundaries: "Hello from ", "the plue ", "mock model, ", "streamed in ", "five chunks."
        let cuts = [0, 11, 20, 32, 44, r.len()];
        cuts.windows(2).map(|w| &r[w[0]..w[1]]).collect()
    }

    /// Start on a free loopback port.
    pub fn start() -> std::io::Result<MockModel> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let completions = Arc::new(AtomicUsize::new(0));
        let (s, c) = (stop.clone(), completions.clone());
        let thread = std::thread::Builder::new()
            .name("mock-model".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let c = c.clone();
                        std::thread::spawn(move || {
                            let _ = serve(conn, &c);
                        });
                    }
                }
            })?;
        Ok(MockModel {
            port,
            stop,
            completions,
            thread: Some(thread),
        })
    }

    /// The base URL OpenCode's provider config points at: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Chat completions answered so far.
    pub fn completions(&self) -> usize {
        self.completions.load(Ordering::SeqCst)
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: requests until the client closes (keep-alive), or one streamed answer then close.
fn serve(conn: TcpStream, completions: &AtomicUsize) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        match (method.as_str(), path.as_str()) {
            ("GET", "/v1/models") => {
                let b = r#"{"object":"list","data":[{"id":"echo","object":"model","owned_by":"plue"}]}"#;
                respond(&mut out, "200 OK", "application/json", b)?;
            }
            ("POST", "/v1/chat/completions") => {
                completions.fetch_add(1, Ordering::SeqCst);
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if req["stream"] == true {
                    if wants_tool(&req) {
                        return stream_tool_call(&mut out);
                    }
                    let slow = last_user_mentions(&req, MockModel::SLOW_TRIGGER);
                    return stream(
                        &mut out,
                        if slow {
                            MockModel::SLOW_CHUNK_DELAY
                        } else {
                            MockModel::CHUNK_DELAY
                        },
                    );
                }
                let b = serde_json::json!({
                    "id": "chatcmpl-plue", "object": "chat.completion", "created": 0, "model": "echo",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": MockModel::REPLY},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6}
                });
                respond(&mut out, "200 OK", "application/json", &b.to_string())?;
            }
            _ => respond(
                &mut out,
                "404 Not Found",
                "application/json",
                r#"{"error":{"message":"not found"}}"#,
            )?,
        }
    }
}

fn respond(out: &mut TcpStream, status: &str, ct: &str, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A request with tools whose last message is the user's and mentions [`MockModel::TOOL_TRIGGER`]: answer with a
/// `bash` tool call (which a server configured with `"permission": {"bash": "ask"}` asks the user about). Title
/// requests carry no tools, and the follow-up after the tool ran ends with the tool's result: both get text.
fn wants_tool(req: &serde_json::Value) -> bool {
    let has_tools = req["tools"].as_array().is_some_and(|t| !t.is_empty());
    has_tools && last_user_mentions(req, MockModel::TOOL_TRIGGER)
}

/// Whether the request's last message is the user's and contains `word`.
fn last_user_mentions(req: &serde_json::Value, word: &str) -> bool {
    let last = req["messages"].as_array().and_then(|m| m.last());
    last.is_some_and(|m| m["role"] == "user" && m["content"].to_string().contains(word))
}

/// A streamed `bash` tool call (`echo plue`), then `finish_reason: tool_calls`; then close.
fn stream_tool_call(out: &mut TcpStream) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )?;
    let args = serde_json::json!({"command": "echo plue", "description": "Print plue"}).to_string();
    let call = serde_json::json!({
        "id": "chatcmpl-plue", "object": "chat.completion.chunk", "created": 0, "model": "echo",
        "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_plue",
            "type": "function", "function": {"name": "bash", "arguments": args}}]}, "finish_reason": null}]
    });
    let done = serde_json::json!({
        "id": "chatcmpl-plue", "object": "chat.completion.chunk", "created": 0, "model": "echo",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    });
    write!(out, "data: {call}\n\ndata: {done}\n\ndata: [DONE]\n\n")?;
    out.flush()?;
    out.shutdown(Shutdown::Both)
}

/// A streamed answer: one chunk per piece, paced, then the finish chunk with usage and `[DONE]`; then close.
fn stream(out: &mut TcpStream, delay: Duration) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )?;
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        serde_json::json!({
            "id": "chatcmpl-plue", "object": "chat.completion.chunk", "created": 0, "model": "echo",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        })
    };
    for (i, piece) in MockModel::chunks().into_iter().enumerate() {
        let delta = if i == 0 {
            serde_json::json!({"role": "assistant", "content": piece})
        } else {
            serde_json::json!({"content": piece})
        };
        write!(out, "data: {}\n\n", chunk(delta, serde_json::Value::Null))?;
        out.flush()?;
        std::thread::sleep(delay);
    }
    let mut last = chunk(serde_json::json!({}), "stop".into());
    last["usage"] =
        serde_json::json!({"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6});
    write!(out, "data: {last}\n\ndata: [DONE]\n\n")?;
    out.flush()?;
    out.shutdown(Shutdown::Both)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencode_mock_model_chunks_add_up_to_the_reply() {
        let c = MockModel::chunks();
        assert_eq!(c.len(), 5);
        assert_eq!(c.concat(), MockModel::REPLY);
        assert!(c.iter().all(|p| !p.is_empty()));
    }
}
