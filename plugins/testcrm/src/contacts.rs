//! testCRM's contacts: each user's list under `contacts/<user id>` as JSON,
//! ids from the `next-contact-id` counter. Found by phone (same digits) and
//! by name (case-insensitive substring), as a CRM's search would.

use serde::{Deserialize, Serialize};
use switchboard_adapter::{
    AdapterError, Contact, CreateContactRequest, FindContactByNameRequest, FindContactRequest, kv,
};

/// One contact, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactEntry {
    /// The contact's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its phone number, as given.
    pub phone: String,
    /// Its kind, when given.
    pub contact_type: Option<String>,
}

impl From<ContactEntry> for Contact {
    fn from(entry: ContactEntry) -> Self {
        Contact {
            id: entry.id,
            name: entry.name,
            phone: Some(entry.phone),
            organization: None,
            contact_type: entry.contact_type,
            additional_info: None,
        }
    }
}

fn key(user_id: &str) -> String {
    format!("contacts/{user_id}")
}

fn load(user_id: &str) -> Result<Vec<ContactEntry>, AdapterError> {
    Ok(kv::get_json(&key(user_id))?.unwrap_or_default())
}

fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Create a contact in the user's list.
pub fn create(request: CreateContactRequest) -> Result<Contact, AdapterError> {
    let mut contacts = load(&request.user.user_id)?;
    let entry = ContactEntry {
        id: kv::increment("next-contact-id", 1)?.to_string(),
        name: request.name,
        phone: request.phone_number,
        contact_type: request.contact_type,
    };
    contacts.push(entry.clone());
    kv::set_json(&key(&request.user.user_id), &contacts)?;
    Ok(entry.into())
}

/// The user's contacts whose number has the same digits.
pub fn find(request: FindContactRequest) -> Result<Vec<Contact>, AdapterError> {
    let wanted = digits(&request.phone_number);
    Ok(load(&request.user.user_id)?
        .into_iter()
        .filter(|c| !wanted.is_empty() && digits(&c.phone) == wanted)
        .map(Contact::from)
        .collect())
}

/// The user's contacts whose name contains `name`, ignoring case.
pub fn find_by_name(request: FindContactByNameRequest) -> Result<Vec<Contact>, AdapterError> {
    let wanted = request.name.trim().to_lowercase();
    Ok(load(&request.user.user_id)?
        .into_iter()
        .filter(|c| !wanted.is_empty() && c.name.to_lowercase().contains(&wanted))
        .map(Contact::from)
        .collect())
}
