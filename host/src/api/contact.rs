//! `/contact`: find contacts by phone number (GET) and create one (POST);
//! `/custom/contact/search`: find them by name.

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody};
use super::openapi::{ContactCreateReply, ContactsReply, Failure};
use super::reply::{ReturnMessage, unsuccessful};
use super::wire::{CreateContact, check_phone_number};
use crate::service::model::Contact;
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

/// A query's `phoneNumber`. A `+` sent unencoded arrives as a space
/// (`?phoneNumber=+1650…` decodes to ` 1650…`); it is restored.
fn phone_number_param(query: &str) -> Result<String, ApiError> {
    let mut numbers = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "phoneNumber")
        .map(|(_, value)| value.into_owned());
    let number = numbers
        .next()
        .ok_or_else(|| ApiError::bad_request("phoneNumber is required"))?;
    if numbers.next().is_some() {
        return Err(ApiError::bad_request("phoneNumber is given more than once"));
    }
    let number = match number.strip_prefix(' ') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => format!("+{rest}"),
        _ => number,
    };
    let number = number.trim().to_owned();
    check_phone_number("phoneNumber", &number)?;
    Ok(number)
}

fn contact_json(contact: Contact) -> Value {
    let additional_info = contact
        .additional_info
        .map(|info| serde_json::from_str(&info).unwrap_or(Value::String(info)));
    json!({
        "id": contact.id,
        "name": contact.name,
        "phone": contact.phone,
        "type": contact.contact_type,
        "organization": contact.organization,
        "additionalInfo": additional_info,
    })
}

/// `GET /contact?phoneNumber=…`
#[utoipa::path(
    get,
    path = "/contact",
    params(("phoneNumber" = String, Query, description = "The number, usually E.164")),
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = ContactsReply),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn find(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let number = phone_number_param(query.as_deref().unwrap_or_default())?;
    let contacts = state.service.find_contacts(&user, &number).await?;
    Ok(contacts_reply(contacts, || {
        format!("Contact not found for number {number}")
    }))
}

/// Longest name searched for.
const MAX_SEARCH_NAME_LEN: usize = 256;

/// `GET /custom/contact/search?name=…`: contacts by name, in the
/// `GET /contact` shape.
#[utoipa::path(
    get,
    path = "/custom/contact/search",
    params(("name" = String, Query, description = "The name to search for")),
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = ContactsReply),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn search_by_name(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let name = form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "name")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    if name.chars().count() > MAX_SEARCH_NAME_LEN {
        return Err(ApiError::bad_request(format!(
            "name is longer than {MAX_SEARCH_NAME_LEN} characters"
        )));
    }
    let contacts = state.service.find_contacts_by_name(&user, &name).await?;
    Ok(contacts_reply(contacts, || {
        format!("No contact found named {name}")
    }))
}

/// The answer to a contact search: the contacts, or a warning when none.
fn contacts_reply(contacts: Vec<Contact>, none: impl FnOnce() -> String) -> Json<Value> {
    if contacts.is_empty() {
        let mut reply = unsuccessful(none());
        reply["contact"] = json!([]);
        return Json(reply);
    }
    let count = contacts.len();
    Json(json!({
        "successful": true,
        "contact": contacts.into_iter().map(contact_json).collect::<Vec<_>>(),
        "returnMessage": ReturnMessage::success(format!("Found {count} contact(s)")).ttl(1000),
    }))
}

/// `POST /contact`
#[utoipa::path(
    post,
    path = "/contact",
    request_body = CreateContact,
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = ContactCreateReply),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    JsonBody(body): JsonBody<CreateContact>,
) -> Result<Json<Value>, ApiError> {
    let body = body.validated()?;
    let contact = state
        .service
        .create_contact(
            &user,
            &body.phone_number,
            &body.new_contact_name,
            body.new_contact_type.as_deref(),
        )
        .await?;
    Ok(Json(json!({
        "successful": true,
        "contact": { "id": contact.id, "name": contact.name },
        "returnMessage": ReturnMessage::success(format!("Contact created: {}", contact.name)),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plus_that_arrived_as_a_space_is_restored() {
        assert_eq!(
            phone_number_param("phoneNumber=+16504445566").expect("ok"),
            "+16504445566"
        );
        assert_eq!(
            phone_number_param("phoneNumber=%2B16504445566").expect("ok"),
            "+16504445566"
        );
        assert_eq!(
            phone_number_param("phoneNumber=6504445566").expect("ok"),
            "6504445566"
        );
        let msg = |q: &str| phone_number_param(q).expect_err(q).message;
        assert!(msg("").contains("required"));
        assert!(msg("phoneNumber=1&phoneNumber=2").contains("more than once"));
        assert!(msg("phoneNumber=abc").contains("phoneNumber"));
    }
}
