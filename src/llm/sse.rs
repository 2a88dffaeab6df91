//! Incremental parser for `text/event-stream` (server-sent events) as sent by
//! OpenAI-compatible servers: `data: {json}` events separated by blank lines,
//! `: comment` keep-alives, and a final `data: [DONE]`.

/// Splits a byte stream into SSE event payloads (the joined `data:` lines).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    data: Vec<String>,
}

impl SseParser {
    /// Feed a chunk; returns the payloads of the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line, &mut events);
        }
        events
    }

    /// End of stream: an event still being collected is completed.
    pub fn finish(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, &mut events);
        }
        if !self.data.is_empty() {
            events.push(self.data.drain(..).collect::<Vec<_>>().join("\n"));
        }
        events
    }

    /// Bytes buffered but not yet parsed (a line without its newline).
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() + self.data.iter().map(String::len).sum::<usize>()
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<String>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                events.push(self.data.drain(..).collect::<Vec<_>>().join("\n"));
            }
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(i) => (&text[..i], text[i + 1..].strip_prefix(' ').unwrap_or(&text[i + 1..])),
            None => (&text[..], ""),
        };
        if field == "data" {
            self.data.push(value.to_string());
        }
    }
}
