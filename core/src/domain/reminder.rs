//! The text of an appointment reminder, in the assistant's language: where, when (in the
//! business's time zone), what, and the number to call to cancel or move it. Kept short: one
//! text message segment where the names allow.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::booking_tools::say_when;
use super::sector::Language;

/// What a reminder says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderFacts<'a> {
    /// The business's name.
    pub business: &'a str,
    /// The start.
    pub starts_at: DateTime<Utc>,
    /// The business's time zone, in which the start is said.
    pub time_zone: Tz,
    /// The service booked, when named.
    pub service: Option<&'a str>,
    /// The number to call (the assistant's), E.164.
    pub call_back: &'a str,
}

/// The reminder's text in `language`, the day and time said as the assistant says them during
/// the call.
pub fn reminder_text(language: Language, facts: &ReminderFacts<'_>) -> String {
    let when = say_when(facts.starts_at, facts.time_zone, language);
    let what = facts.service.map(|s| format!(" ({s})")).unwrap_or_default();
    match language {
        Language::Fr => format!(
            "Rappel : rendez-vous chez {} le {when}{what}. Pour annuler ou déplacer, appelez le {}.",
            facts.business, facts.call_back
        ),
        Language::En => format!(
            "Reminder: your appointment at {} on {when}{what}. To cancel or move it, call {}.",
            facts.business, facts.call_back
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use chrono_tz::Europe::Paris;

    use super::*;

    fn facts(hh: u32, mm: u32, service: Option<&'static str>) -> ReminderFacts<'static> {
        ReminderFacts {
            business: "Salon Dupont",
            starts_at: Paris
                .with_ymd_and_hms(2026, 12, 8, hh, mm, 0)
                .unwrap()
                .with_timezone(&Utc),
            time_zone: Paris,
            service,
            call_back: "+33142868000",
        }
    }

    #[test]
    fn a_french_reminder_says_where_when_what_and_whom_to_call() {
        assert_eq!(
            reminder_text(Language::Fr, &facts(14, 5, Some("coupe"))),
            "Rappel : rendez-vous chez Salon Dupont le mardi 8 décembre à 14 h 05 (coupe). \
             Pour annuler ou déplacer, appelez le +33142868000."
        );
        assert!(reminder_text(Language::Fr, &facts(10, 0, None)).contains("à 10 h. Pour"));
    }

    #[test]
    fn an_english_reminder_says_the_same_in_english() {
        assert_eq!(
            reminder_text(Language::En, &facts(9, 30, None)),
            "Reminder: your appointment at Salon Dupont on Tuesday 8 December at 9:30. \
             To cancel or move it, call +33142868000."
        );
    }
}
