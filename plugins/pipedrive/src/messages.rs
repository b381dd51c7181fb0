//! Message logs: one done activity per conversation-day, its note listing
//! the messages, one `<li>` each (`HH:MM UTC sender: text`, with the links
//! of attachments). An update appends a line to that list and leaves the
//! rest of the note as it is, including what a user wrote in Pipedrive.

use crate::api::{Api, id_value, numeric_id};
use crate::{activity_type, note, utc_date_time};
use serde_json::json;
use switchboard_adapter::{
    AdapterError, CreateMessageLogRequest, MessageLogCreated, UpdateMessageLogRequest,
};

/// The head of the messages list in a message log's note.
pub const MESSAGES_HEAD: &str = "<p><b>Messages</b></p><ul>";

/// The activity type messages are logged as: the company's `sms` type when
/// it has one, else `task`.
const MESSAGE_TYPES: (&str, &str) = ("sms", "task");

fn line(message: &switchboard_adapter::Message) -> String {
    format!("<li>{}</li>", note::escape(&message.note_line()))
}

/// Start a conversation-day's activity with its first message.
pub fn create(request: CreateMessageLogRequest) -> Result<MessageLogCreated, AdapterError> {
    let user = &request.user;
    let api = Api::new(&user.hostname, &user.credential);
    let person_id = numeric_id("contactId", &request.contact.id)?;
    let owner_id = numeric_id("user id", &user.user_id)?;
    let message = &request.message;
    let contact_name = request
        .contact
        .name
        .clone()
        .or_else(|| message.contact_party().and_then(|p| p.name.clone()))
        .unwrap_or_else(|| request.contact.id.clone());
    let (due_date, due_time) = utc_date_time(message.creation_time);
    let body = json!({
        "subject": message.conversation_subject(&contact_name),
        "type": activity_type(&api, MESSAGE_TYPES.0, MESSAGE_TYPES.1)?,
        "owner_id": owner_id,
        "participants": [{ "person_id": person_id, "primary": true }],
        "done": true,
        "due_date": due_date,
        "due_time": due_time,
        "note": format!("{MESSAGES_HEAD}{}</ul>", line(message)),
    });
    let activity = api.post("/api/v2/activities", &body)?;
    let id = id_value(&activity["id"])
        .ok_or_else(|| AdapterError::Internal("POST /api/v2/activities returned no id".into()))?;
    Ok(MessageLogCreated {
        log_id: id.to_string(),
    })
}

/// Append a message to a conversation-day's activity.
pub fn update(request: UpdateMessageLogRequest) -> Result<(), AdapterError> {
    let api = Api::new(&request.user.hostname, &request.user.credential);
    let id = numeric_id("log id", &request.log_id)?;
    let activity = api.get(&format!("/api/v2/activities/{id}"))?;
    let html = append(
        activity["note"].as_str().unwrap_or_default(),
        &line(&request.message),
    );
    api.patch(
        &format!("/api/v2/activities/{id}"),
        &json!({ "note": html }),
    )?;
    Ok(())
}

/// `html` with `item` appended to its messages list (a new list at the end
/// when a user removed it).
pub fn append(html: &str, item: &str) -> String {
    let end = html
        .find(MESSAGES_HEAD)
        .and_then(|start| html[start..].find("</ul>").map(|e| start + e));
    match end {
        Some(end) => format!("{}{item}{}", &html[..end], &html[end..]),
        None => format!("{html}{MESSAGES_HEAD}{item}</ul>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_keeps_what_the_note_held() {
        let first = format!("<p>my own words</p>{MESSAGES_HEAD}<li>a</li></ul><p>after</p>");
        assert_eq!(
            append(&first, "<li>b</li>"),
            format!("<p>my own words</p>{MESSAGES_HEAD}<li>a</li><li>b</li></ul><p>after</p>")
        );
        assert_eq!(
            append("<p>list removed</p>", "<li>b</li>"),
            format!("<p>list removed</p>{MESSAGES_HEAD}<li>b</li></ul>")
        );
    }
}
