//! Phone numbers as Pipedrive's search finds them: the number as given
//! (usually E.164) and its national significant number.

/// Two-digit country calling codes (ITU-T E.164). Codes starting with 1 or
/// 7 have one digit; every other code has three.
const TWO_DIGIT_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// The forms to search for: the number as given, and for an international
/// number, its national significant number (`+16504445566` → `6504445566`).
pub fn search_terms(number: &str) -> Vec<String> {
    let given = number.trim().to_owned();
    let mut terms = vec![given.clone()];
    if let Some(international) = given.strip_prefix('+') {
        let digits: String = international.chars().filter(char::is_ascii_digit).collect();
        let code_len = if digits.starts_with('1') || digits.starts_with('7') {
            1
        } else if TWO_DIGIT_CODES.iter().any(|c| digits.starts_with(c)) {
            2
        } else {
            3
        };
        if digits.len() > code_len + 3 {
            terms.push(digits[code_len..].to_owned());
        }
    }
    terms.dedup();
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_numbers_are_also_searched_nationally() {
        assert_eq!(search_terms("+16504445566"), ["+16504445566", "6504445566"]);
        assert_eq!(
            search_terms("+442071234567"),
            ["+442071234567", "2071234567"]
        );
        assert_eq!(search_terms("+3531234567"), ["+3531234567", "1234567"]);
        assert_eq!(search_terms("6504445566"), ["6504445566"]);
    }
}
