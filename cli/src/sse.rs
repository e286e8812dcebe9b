//! A Server-Sent Events parser, as the HTML standard's "event stream
//! interpretation" describes it, fed with whatever chunks the socket gives:
//! a line, a CRLF or a UTF-8 character may be split between two reads.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when the event named none.
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The last event ID when this event was dispatched (an `id:` sticks
    /// until the next one), for `Last-Event-ID` on a reconnection.
    pub id: Option<String>,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The previous chunk ended on CR: an LF opening this one belongs to it.
    after_cr: bool,
    /// A UTF-8 byte order mark may open the stream, once.
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    retry_ms: Option<u64>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a chunk; returns the events it completed, in order.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.started && !chunk.is_empty() {
            // Decide on the BOM only once three bytes (or a non-BOM prefix) are in.
            let mut head = std::mem::take(&mut self.line);
            head.extend_from_slice(chunk);
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            if head.len() < BOM.len() && BOM.starts_with(&head) {
                self.line = head;
                return out;
            }
            self.started = true;
            let skip = if head.starts_with(BOM) { BOM.len() } else { 0 };
            return self.feed_started(&head[skip..]);
        }
        if self.after_cr && !chunk.is_empty() {
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
            self.after_cr = false;
        }
        out.extend(self.feed_started(chunk));
        out
    }

    fn feed_started(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.process_line(&line) {
                out.push(event);
            }
            let is_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        out
    }

    /// The reconnection delay the server asked for with `retry:`, if any.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// The last event ID seen, to resume from.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    fn process_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // a comment: heartbeats
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&line[..], ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()).filter(|v| !v.is_empty()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => self.retry_ms = value.parse().ok(),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if !std::mem::replace(&mut self.has_data, false) {
            // No data: nothing is dispatched, and the event name is dropped.
            self.data.clear();
            return None;
        }
        Some(SseEvent { event: if event.is_empty() { "message".into() } else { event }, data: std::mem::take(&mut self.data), id: self.last_id.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent { event: event.into(), data: data.into(), id: id.map(Into::into) }
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        chunks.iter().flat_map(|c| p.feed(c)).collect()
    }

    #[test]
    fn named_events_with_ids() {
        let stream = b"id: 1\nevent: progress\ndata: {\"a\":1}\n\nid: 2\nevent: completed\ndata: {\"a\":2}\n\n";
        assert_eq!(parse_all(&[stream]), vec![ev("progress", "{\"a\":1}", Some("1")), ev("completed", "{\"a\":2}", Some("2"))]);
    }

    #[test]
    fn multi_line_data_is_joined_by_newlines() {
        let events = parse_all(&[b"data: first\ndata:second\ndata:  third\n\n"]);
        assert_eq!(events, vec![ev("message", "first\nsecond\n third", None)]);
    }

    #[test]
    fn comments_are_ignored_and_an_event_without_data_is_not_dispatched() {
        let events = parse_all(&[b": heartbeat\n\n:another\nevent: progress\n\ndata: x\n\n"]);
        // The name of the data-less event does not leak onto the next one.
        assert_eq!(events, vec![ev("message", "x", None)]);
    }

    #[test]
    fn crlf_and_lone_cr_end_lines() {
        let events = parse_all(&[b"event: progress\r\ndata: a\r\n\r\nevent: failed\rdata: b\r\r"]);
        assert_eq!(events, vec![ev("progress", "a", None), ev("failed", "b", None)]);
    }

    #[test]
    fn every_split_of_a_stream_gives_the_same_events() {
        let stream: &[u8] = b"\xEF\xBB\xBFid: 7\r\nevent: progress\r\ndata: {\"s\":\"\xC3\xA9\"}\r\n\r\n: hb\r\n\r\nevent: completed\r\ndata: done\r\n\r\n";
        let whole = parse_all(&[stream]);
        assert_eq!(whole, vec![ev("progress", "{\"s\":\"é\"}", Some("7")), ev("completed", "done", Some("7"))]);
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let split = parse_all(&[&stream[..i], b"", &stream[i..j], &stream[j..]]);
                assert_eq!(split, whole, "split at {i} and {j}");
            }
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_all(&bytewise), whole);
    }

    #[test]
    fn the_id_sticks_until_replaced_and_an_empty_id_clears_it() {
        let events = parse_all(&[b"id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"]);
        assert_eq!(events, vec![ev("message", "a", Some("5")), ev("message", "b", Some("5")), ev("message", "c", None)]);
    }

    #[test]
    fn retry_is_kept_only_when_it_is_a_number() {
        let mut p = SseParser::new();
        p.feed(b"retry: 2500\n\nretry: soon\n\n");
        assert_eq!(p.retry_ms(), Some(2500));
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut p = SseParser::new();
        assert!(p.feed(b"event: completed\ndata: {}\n").is_empty());
        assert_eq!(p.feed(b"\n"), vec![ev("completed", "{}", None)]);
    }
}
