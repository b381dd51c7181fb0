//! Limits on what an adapter may answer. An adapter's answer is lifted into
//! host memory before anything else sees it; these limits keep an answer
//! from growing without bound into the store, the logs or the client's
//! reply. (How much the host lifts at most is bounded by the adapter's
//! memory limit.)

use super::bindings::{
    AdapterManifest, CallLogCreated, CallLogDetails, CallLogUpdated, Contact, MessageLogCreated,
    UserInfo,
};

/// Longest id an adapter may answer (log, contact and user ids).
pub const MAX_ID_BYTES: usize = 256;
/// Largest total text in one answer.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Most contacts one `find-contact` may answer.
pub const MAX_CONTACTS: usize = 1000;

/// An adapter answer whose size can be checked.
pub(super) trait Output {
    /// Why the answer is too large, if it is.
    fn oversize(&self) -> Option<String>;
}

fn text(parts: &[&str], optional: &[&Option<String>]) -> usize {
    parts.iter().map(|s| s.len()).sum::<usize>()
        + optional
            .iter()
            .filter_map(|s| s.as_deref())
            .map(str::len)
            .sum::<usize>()
}

fn check(id: &str, total: usize) -> Option<String> {
    if id.len() > MAX_ID_BYTES {
        return Some(format!(
            "an id of {} bytes (at most {MAX_ID_BYTES})",
            id.len()
        ));
    }
    (total > MAX_OUTPUT_BYTES)
        .then(|| format!("{total} bytes of text (at most {MAX_OUTPUT_BYTES})"))
}

impl Output for AdapterManifest {
    fn oversize(&self) -> Option<String> {
        let hosts: usize = self.allowed_hosts.iter().map(String::len).sum();
        check(
            "",
            text(&[&self.platform, &self.display_name, &self.version], &[]) + hosts,
        )
    }
}

impl Output for UserInfo {
    fn oversize(&self) -> Option<String> {
        check(
            &self.id,
            text(
                &[&self.id, &self.name],
                &[&self.timezone, &self.platform_additional_info],
            ),
        )
    }
}

impl Output for Contact {
    fn oversize(&self) -> Option<String> {
        check(
            &self.id,
            text(
                &[&self.id, &self.name],
                &[
                    &self.phone,
                    &self.organization,
                    &self.contact_type,
                    &self.additional_info,
                ],
            ),
        )
    }
}

impl Output for Vec<Contact> {
    fn oversize(&self) -> Option<String> {
        if self.len() > MAX_CONTACTS {
            return Some(format!("{} contacts (at most {MAX_CONTACTS})", self.len()));
        }
        let mut total = 0;
        for contact in self {
            if let Some(why) = contact.oversize() {
                return Some(why);
            }
            total += text(&[&contact.id, &contact.name], &[&contact.additional_info]);
        }
        check("", total)
    }
}

impl Output for CallLogCreated {
    fn oversize(&self) -> Option<String> {
        check(&self.log_id, self.log_id.len())
    }
}

impl Output for MessageLogCreated {
    fn oversize(&self) -> Option<String> {
        check(&self.log_id, self.log_id.len())
    }
}

impl Output for CallLogDetails {
    fn oversize(&self) -> Option<String> {
        check(
            "",
            text(
                &[&self.subject, &self.note],
                &[&self.full_body, &self.contact_name, &self.dispositions],
            ),
        )
    }
}

impl Output for CallLogUpdated {
    fn oversize(&self) -> Option<String> {
        check("", self.updated_note.len())
    }
}

impl Output for () {
    fn oversize(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str) -> Contact {
        Contact {
            id: id.into(),
            name: "n".into(),
            phone: None,
            organization: None,
            contact_type: None,
            additional_info: None,
        }
    }

    #[test]
    fn answers_over_the_limits_are_named() {
        assert!(vec![contact("1"); MAX_CONTACTS].oversize().is_none());
        let many = vec![contact("1"); MAX_CONTACTS + 1]
            .oversize()
            .expect("too many");
        assert!(many.contains("1001 contacts"), "{many}");
        let long_id = CallLogCreated {
            log_id: "x".repeat(MAX_ID_BYTES + 1),
        };
        assert!(
            long_id
                .oversize()
                .expect("long id")
                .contains("an id of 257 bytes")
        );
        let big = CallLogUpdated {
            updated_note: "x".repeat(MAX_OUTPUT_BYTES + 1),
        };
        assert!(big.oversize().is_some());
    }
}
