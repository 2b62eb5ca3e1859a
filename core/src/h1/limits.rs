//! Limits on what a response may make the decoder buffer.

/// Limits on a response's head and chunked framing. Each one, when exceeded, gives its own
/// [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge) with the matching [`Limit`](crate::Limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Bytes in one response head, status line and blank line included (default 64 KiB).
    pub max_head_size: usize,
    /// Header fields in one response head (default 100).
    pub max_headers: usize,
    /// Bytes in one chunk-size line, extensions and CRLF included (default 4 KiB).
    pub max_chunk_line: usize,
    /// Bytes in the trailer section of a chunked body, final CRLF included (default 16 KiB).
    pub max_trailer_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_chunk_line: 4 * 1024,
            max_trailer_size: 16 * 1024,
        }
    }
}
