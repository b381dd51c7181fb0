//! Contacts: find the CRM contacts that have a phone number or a name, and
//! create one.

use super::model::Contact;
use super::{Service, ServiceError};
use crate::runtime::{CreateContactRequest, FindContactByNameRequest, FindContactRequest};
use crate::store::User;

impl Service {
    /// The contacts that have `phone_number`, as the CRM matched them.
    pub async fn find_contacts(
        &self,
        user: &User,
        phone_number: &str,
    ) -> Result<Vec<Contact>, ServiceError> {
        self.call_as(user, |adapter, context| {
            let request = FindContactRequest {
                user: context,
                phone_number: phone_number.to_owned(),
            };
            async move { adapter.adapter.find_contact(request).await }
        })
        .await
        .map(|contacts| contacts.into_iter().map(Contact::from).collect())
    }

    /// The contacts whose name matches `name`, as the CRM matched them.
    pub async fn find_contacts_by_name(
        &self,
        user: &User,
        name: &str,
    ) -> Result<Vec<Contact>, ServiceError> {
        self.call_as(user, |adapter, context| {
            let request = FindContactByNameRequest {
                user: context,
                name: name.to_owned(),
            };
            async move { adapter.adapter.find_contact_by_name(request).await }
        })
        .await
        .map(|contacts| contacts.into_iter().map(Contact::from).collect())
    }

    /// Create a contact for a number nobody matched.
    pub async fn create_contact(
        &self,
        user: &User,
        phone_number: &str,
        name: &str,
        contact_type: Option<&str>,
    ) -> Result<Contact, ServiceError> {
        self.call_as(user, |adapter, context| {
            let request = CreateContactRequest {
                user: context,
                phone_number: phone_number.to_owned(),
                name: name.to_owned(),
                contact_type: contact_type.map(str::to_owned),
            };
            async move { adapter.adapter.create_contact(request).await }
        })
        .await
        .map(Contact::from)
    }
}
