//! The activity note: HTML with an agent-notes section and a call-details
//! list, composed at create, read back at get, and rewritten section by
//! section at update so that anything else a user wrote in Pipedrive stays.
//!
//! ```html
//! <p><b>Agent notes</b></p><p>Asked about renewal<br>Call back Friday</p>
//! <p><b>Call details</b></p><ul><li><b>Date/time</b>: 2018-09-11 13:24:09 UTC</li>
//! <li><b>Duration</b>: 00:01:05</li><li><b>Result</b>: Accepted</li>
//! <li><b>Call recording link</b>: <a href="https://…">https://…</a></li></ul>
//! ```
//! (one line in the real note), then `<p><b>AI note</b></p><p>…</p>` and
//! `<p><b>Transcript</b></p><p>…</p>` when the client sent them.

const NOTES_HEAD: &str = "<p><b>Agent notes</b></p><p>";
/// The head of RingCentral AI's summary section.
pub const AI_NOTE_HEAD: &str = "<p><b>AI note</b></p><p>";
/// The head of the transcript section.
pub const TRANSCRIPT_HEAD: &str = "<p><b>Transcript</b></p><p>";
const DETAILS_HEAD: &str = "<p><b>Call details</b></p><ul>";

/// The call-details label of the call's start (UTC).
pub const DATE_TIME: &str = "Date/time";
/// The call-details label of the call's length.
pub const DURATION: &str = "Duration";
/// The call-details label of RingCentral's result.
pub const RESULT: &str = "Result";
/// The call-details label of the recording.
pub const RECORDING: &str = "Call recording link";

/// Escape text for HTML; line breaks become `<br>`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The reverse of [`escape`].
pub fn unescape(html: &str) -> String {
    html.replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// One entry's HTML value.
pub fn entry_value(label: &str, value: &str) -> String {
    if label == RECORDING {
        let link = escape(value);
        format!("<a href=\"{link}\">{link}</a>")
    } else {
        escape(value)
    }
}

/// A whole note.
pub fn compose(agent_note: Option<&str>, entries: &[(&str, String)]) -> String {
    let mut html = String::new();
    if let Some(note) = agent_note.filter(|n| !n.trim().is_empty()) {
        html.push_str(NOTES_HEAD);
        html.push_str(&escape(note));
        html.push_str("</p>");
    }
    html.push_str(DETAILS_HEAD);
    for (label, value) in entries {
        html.push_str(&format!(
            "<li><b>{label}</b>: {}</li>",
            entry_value(label, value)
        ));
    }
    html.push_str("</ul>");
    html
}

/// The agent's note, read back out of a note (empty when there is none).
pub fn agent_note(html: &str) -> String {
    html.find(NOTES_HEAD)
        .map(|start| &html[start + NOTES_HEAD.len()..])
        .and_then(|rest| rest.find("</p>").map(|end| unescape(&rest[..end])))
        .unwrap_or_default()
}

/// Replace (or add, first) the agent-notes section; an empty note removes it.
pub fn set_agent_note(html: &str, note: &str) -> String {
    set_section(html, NOTES_HEAD, note, Place::First)
}

/// Where a new section goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Before everything.
    First,
    /// After everything.
    Last,
}

/// Replace the section that starts with `head`, or add it at `place`;
/// empty text removes it.
pub fn set_section(html: &str, head: &str, text: &str, place: Place) -> String {
    let section = if text.trim().is_empty() {
        String::new()
    } else {
        format!("{head}{}</p>", escape(text))
    };
    match html.find(head) {
        Some(start) => {
            let body = start + head.len();
            let end = html[body..]
                .find("</p>")
                .map_or(html.len(), |e| body + e + 4);
            format!("{}{section}{}", &html[..start], &html[end..])
        }
        None if place == Place::First => format!("{section}{html}"),
        None => format!("{html}{section}"),
    }
}

/// Replace (or add) one call-details entry; `None` removes it.
pub fn set_entry(html: &str, label: &str, value: Option<&str>) -> String {
    let open = format!("<li><b>{label}</b>: ");
    let item = value.map(|v| format!("{open}{}</li>", entry_value(label, v)));
    if let Some(start) = html.find(&open) {
        let end = html[start..]
            .find("</li>")
            .map_or(html.len(), |e| start + e + 5);
        return format!(
            "{}{}{}",
            &html[..start],
            item.unwrap_or_default(),
            &html[end..]
        );
    }
    let Some(item) = item else {
        return html.to_owned();
    };
    match html
        .find(DETAILS_HEAD)
        .and_then(|d| html[d..].find("</ul>").map(|e| d + e))
    {
        Some(end) => format!("{}{item}{}", &html[..end], &html[end..]),
        None => format!("{html}{DETAILS_HEAD}{item}</ul>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<(&'static str, String)> {
        vec![
            (DATE_TIME, "2018-09-11 13:24:09 UTC".into()),
            (DURATION, "00:01:05".into()),
            (RESULT, "Accepted".into()),
            (RECORDING, "https://r.example/1?a=b&c=d".into()),
        ]
    }

    #[test]
    fn composes_and_reads_the_agent_note_back() {
        let html = compose(Some("Asked <price>\nCall back"), &entries());
        assert_eq!(
            html,
            "<p><b>Agent notes</b></p><p>Asked &lt;price&gt;<br>Call back</p>\
             <p><b>Call details</b></p><ul><li><b>Date/time</b>: 2018-09-11 13:24:09 UTC</li>\
             <li><b>Duration</b>: 00:01:05</li><li><b>Result</b>: Accepted</li>\
             <li><b>Call recording link</b>: <a href=\"https://r.example/1?a=b&amp;c=d\">\
             https://r.example/1?a=b&amp;c=d</a></li></ul>"
        );
        assert_eq!(agent_note(&html), "Asked <price>\nCall back");
        assert_eq!(agent_note(&compose(None, &entries())), "");
    }

    #[test]
    fn rewrites_only_the_changed_sections() {
        let html = format!(
            "{}<p>typed in Pipedrive</p>",
            compose(Some("old"), &entries())
        );
        let html = set_agent_note(&html, "new note");
        let html = set_entry(&html, RESULT, Some("Missed"));
        let html = set_entry(&html, RECORDING, None);
        assert_eq!(agent_note(&html), "new note");
        assert!(html.contains("<li><b>Result</b>: Missed</li>"), "{html}");
        assert!(!html.contains("Call recording link"), "{html}");
        assert!(
            html.contains("<li><b>Duration</b>: 00:01:05</li>"),
            "{html}"
        );
        assert!(html.ends_with("<p>typed in Pipedrive</p>"), "{html}");

        let bare = set_agent_note("<p>user text</p>", "added");
        assert_eq!(agent_note(&bare), "added");
        let added = set_entry(&bare, RECORDING, Some("https://r/2"));
        assert!(added.ends_with("<ul><li><b>Call recording link</b>: <a href=\"https://r/2\">https://r/2</a></li></ul>"), "{added}");
        assert_eq!(
            set_agent_note(&compose(Some("x"), &[]), ""),
            compose(None, &[])
        );
    }
}
