//! Streaming JSON: split the array at a JSON pointer into its elements as the bytes arrive, so each element can
//! be decoded (and dropped) on its own, while the rest of the document — the enclosing object's other fields,
//! with the array left empty — is kept to decode normally at the end.
//!
//! A byte-level scanner, no values built: it tracks strings, escapes, nesting and the keys on the way to the
//! pointer. Memory is one element (bounded by `max_element`) plus the rest of the document (bounded by
//! `max_rest`), whatever the array's length. Selected fields of a large object need nothing more than serde:
//! a struct naming only those fields skips the others without materialising them (`serde::de::IgnoredAny`).

use bytes::{Bytes, BytesMut};

/// Why splitting stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStreamError {
    /// One element was larger than `max_element`.
    ElementTooLarge {
        /// The limit.
        max: usize,
    },
    /// The document outside the array was larger than `max_rest`.
    RestTooLarge {
        /// The limit.
        max: usize,
    },
    /// The bytes are not JSON (a bracket closed what it did not open, or bytes after the document).
    Malformed {
        /// Byte offset of the problem.
        at: u64,
    },
    /// The body ended inside the document (for example an array that never closes).
    Unterminated,
    /// The pointer does not lead to an array in this document.
    NotAnArray {
        /// The pointer.
        pointer: String,
    },
}

impl core::fmt::Display for JsonStreamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            JsonStreamError::ElementTooLarge { max } => {
                write!(f, "an array element is larger than {max} bytes")
            }
            JsonStreamError::RestTooLarge { max } => {
                write!(
                    f,
                    "the document around the array is larger than {max} bytes"
                )
            }
            JsonStreamError::Malformed { at } => write!(f, "malformed JSON at byte {at}"),
            JsonStreamError::Unterminated => write!(f, "the JSON document ended early"),
            JsonStreamError::NotAnArray { pointer } => {
                write!(f, "no array at JSON pointer {pointer:?}")
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Frame {
    array: bool,
    /// The path to this container is the pointer's first `depth` tokens.
    on_path: bool,
    /// Objects: the next string is a key.
    expect_key: bool,
    /// Arrays: index of the current element.
    index: usize,
    /// Objects: the last key matched the pointer's next token.
    key_matches: bool,
}

/// Splits the array at a JSON pointer (RFC 6901) into element byte slices.
#[derive(Debug)]
pub struct JsonArraySplitter {
    tokens: Vec<String>,
    pointer: String,
    stack: Vec<Frame>,
    in_string: bool,
    escape: bool,
    /// Raw bytes of the key being read, when it may matter for the path.
    key: Option<Vec<u8>>,
    /// Depth of the target array while inside it.
    target: Option<usize>,
    found: bool,
    /// Inside an element of the target array.
    in_element: bool,
    element: BytesMut,
    rest: Vec<u8>,
    max_element: usize,
    max_rest: usize,
    offset: u64,
    done: bool,
}

/// Keys longer than this never match a pointer token (and are not kept).
const MAX_KEY: usize = 4096;

impl JsonArraySplitter {
    /// Split the array at `pointer` (`""` = the root, `"/all"` = member `all` of the root object).
    pub fn new(pointer: &str, max_element: usize, max_rest: usize) -> JsonArraySplitter {
        let tokens = if pointer.is_empty() {
            Vec::new()
        } else {
            pointer
                .split('/')
                .skip(1)
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect()
        };
        JsonArraySplitter {
            tokens,
            pointer: pointer.to_string(),
            stack: Vec::new(),
            in_string: false,
            escape: false,
            key: None,
            target: None,
            found: false,
            in_element: false,
            element: BytesMut::new(),
            rest: Vec::new(),
            max_element,
            max_rest,
            offset: 0,
            done: false,
        }
    }

    /// Bytes held for the element being read (never more than `max_element`).
    pub fn held(&self) -> usize {
        self.element.len()
    }

    /// Feed body bytes; each complete element's bytes are appended to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Bytes>) -> Result<(), JsonStreamError> {
        for &b in data {
            self.byte(b, out)?;
            self.offset += 1;
        }
        Ok(())
    }

    /// The body ended: the document must be complete and the pointer must have led to an array. Returns the
    /// document with that array emptied, to decode the other fields.
    pub fn finish(self) -> Result<Vec<u8>, JsonStreamError> {
        if !self.done || self.in_string {
            return Err(JsonStreamError::Unterminated);
        }
        if !self.found {
            return Err(JsonStreamError::NotAnArray {
                pointer: self.pointer,
            });
        }
        Ok(self.rest)
    }

    fn keep(&mut self, b: u8) -> Result<(), JsonStreamError> {
        if self.in_element {
            if self.element.len() >= self.max_element {
                return Err(JsonStreamError::ElementTooLarge {
                    max: self.max_element,
                });
            }
            self.element.extend_from_slice(&[b]);
        } else {
            if self.rest.len() >= self.max_rest {
                return Err(JsonStreamError::RestTooLarge { max: self.max_rest });
            }
            self.rest.push(b);
        }
        Ok(())
    }

    fn malformed(&self) -> JsonStreamError {
        JsonStreamError::Malformed { at: self.offset }
    }

    /// Is the value starting now on the way to the pointer (its path a prefix of the pointer's)?
    fn value_on_path(&self) -> bool {
        match self.stack.last() {
            None => true,
            Some(top) => {
                let depth = self.stack.len();
                if !top.on_path || depth > self.tokens.len() {
                    return false;
                }
                if top.array {
                    self.tokens[depth - 1] == top.index.to_string()
                } else {
                    top.key_matches
                }
            }
        }
    }

    fn end_element(&mut self, out: &mut Vec<Bytes>) {
        if self.in_element {
            self.in_element = false;
            let bytes = self.element.split().freeze();
            let trimmed = bytes.slice(0..trim_end(&bytes));
            out.push(trimmed);
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<Bytes>) -> Result<(), JsonStreamError> {
        if self.in_string {
            if let Some(k) = self.key.as_mut() {
                if (self.escape || b != b'"') && k.len() < MAX_KEY {
                    k.push(b);
                }
            }
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                if let Some(raw) = self.key.take() {
                    let depth = self.stack.len();
                    let matches = self.tokens.get(depth - 1).is_some_and(|t| key_is(&raw, t));
                    if let Some(top) = self.stack.last_mut() {
                        top.key_matches = matches;
                    }
                }
            }
            return self.keep(b);
        }
        if b.is_ascii_whitespace() {
            // Whitespace between an element and its comma belongs to nobody.
            if self.in_element || self.target.is_none() || self.target != Some(self.stack.len()) {
                return self.keep(b);
            }
            return Ok(());
        }
        if self.done {
            return Err(self.malformed());
        }
        let depth = self.stack.len();
        // Inside the target array, at its own level: elements start, commas separate, `]` ends it.
        if self.target == Some(depth) {
            match b {
                b',' => {
                    if !self.in_element {
                        return Err(self.malformed());
                    }
                    self.end_element(out);
                    if let Some(top) = self.stack.last_mut() {
                        top.index += 1;
                    }
                    return Ok(());
                }
                b']' => {
                    self.end_element(out);
                    self.target = None;
                    self.stack.pop();
                    self.rest.push(b']');
                    self.done = self.stack.is_empty();
                    return Ok(());
                }
                _ if !self.in_element => {
                    self.in_element = true;
                }
                _ => {}
            }
        }
        match b {
            b'"' => {
                self.in_string = true;
                let is_key = self.stack.last().is_some_and(|f| !f.array && f.expect_key);
                if is_key
                    && self.stack.last().is_some_and(|f| f.on_path)
                    && depth <= self.tokens.len()
                {
                    self.key = Some(Vec::new());
                }
                if is_key {
                    if let Some(top) = self.stack.last_mut() {
                        top.expect_key = false;
                    }
                }
            }
            b'{' | b'[' => {
                let on_path = self.value_on_path();
                let array = b == b'[';
                if on_path && depth == self.tokens.len() && !self.in_element {
                    if !array {
                        return Err(JsonStreamError::NotAnArray {
                            pointer: self.pointer.clone(),
                        });
                    }
                    self.found = true;
                    self.stack.push(Frame {
                        array,
                        on_path,
                        expect_key: false,
                        index: 0,
                        key_matches: false,
                    });
                    self.target = Some(self.stack.len());
                    return self.keep(b);
                }
                self.stack.push(Frame {
                    array,
                    on_path,
                    expect_key: !array,
                    index: 0,
                    key_matches: false,
                });
            }
            b'}' | b']' => {
                let Some(top) = self.stack.pop() else {
                    return Err(self.malformed());
                };
                if top.array != (b == b']') {
                    return Err(self.malformed());
                }
                self.keep(b)?;
                self.done = self.stack.is_empty();
                return Ok(());
            }
            b',' => {
                if let Some(top) = self.stack.last_mut() {
                    if top.array {
                        top.index += 1;
                    } else {
                        top.expect_key = true;
                        top.key_matches = false;
                    }
                }
            }
            _ => {
                if depth == 0 && self.tokens.is_empty() && !self.found {
                    // A scalar at the root where the pointer wants the root array.
                    return Err(JsonStreamError::NotAnArray {
                        pointer: self.pointer.clone(),
                    });
                }
            }
        }
        self.keep(b)
    }
}

/// `raw` (a key's bytes between the quotes) equals the pointer token `t`.
fn key_is(raw: &[u8], t: &str) -> bool {
    if !raw.contains(&b'\\') {
        return raw == t.as_bytes();
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted).is_ok_and(|k| k == t)
}

fn trim_end(b: &[u8]) -> usize {
    b.iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1)
}
