//! The text of an appointment reminder, in the assistant's language: where, when (in the
//! business's time zone), what, and the number to call to cancel or move it. Kept short: one
//! text message segment where the names allow.

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;

use super::sector::Language;

/// What a reminder says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderFacts<'a> {
    /// The business's name.
    pub business: &'a str,
    /// The start, in the business's time zone.
    pub starts_at: DateTime<Tz>,
    /// The service booked, when named.
    pub service: Option<&'a str>,
    /// The number to call (the assistant's), E.164.
    pub call_back: &'a str,
}

const FR_DAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn en_day(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// The reminder's text in `language`.
pub fn reminder_text(language: Language, facts: &ReminderFacts<'_>) -> String {
    let at = facts.starts_at;
    let month = at.month0() as usize;
    match language {
        Language::Fr => {
            let what = facts.service.map(|s| format!(" ({s})")).unwrap_or_default();
            format!(
                "Rappel : rendez-vous chez {} le {} {} {} à {}h{:02}{what}. Pour annuler ou déplacer, appelez le {}.",
                facts.business,
                FR_DAYS[at.weekday().num_days_from_monday() as usize],
                at.day(),
                FR_MONTHS[month],
                at.hour(),
                at.minute(),
                facts.call_back
            )
        }
        Language::En => {
            let what = facts.service.map(|s| format!(" ({s})")).unwrap_or_default();
            let (hour, half) = match at.hour() {
                0 => (12, "am"),
                h @ 1..=11 => (h, "am"),
                12 => (12, "pm"),
                h => (h - 12, "pm"),
            };
            format!(
                "Reminder: your appointment at {} on {} {} {} at {hour}:{:02} {half}{what}. To cancel or move it, call {}.",
                facts.business,
                en_day(at.weekday()),
                at.day(),
                EN_MONTHS[month],
                at.minute(),
                facts.call_back
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use chrono_tz::Europe::Paris;

    use super::*;

    fn facts(hh: u32, service: Option<&'static str>) -> ReminderFacts<'static> {
        ReminderFacts {
            business: "Salon Dupont",
            starts_at: Paris.with_ymd_and_hms(2026, 12, 8, hh, 5, 0).unwrap(),
            service,
            call_back: "+33142868000",
        }
    }

    #[test]
    fn a_french_reminder_says_where_when_what_and_whom_to_call() {
        assert_eq!(
            reminder_text(Language::Fr, &facts(14, Some("coupe"))),
            "Rappel : rendez-vous chez Salon Dupont le mardi 8 décembre à 14h05 (coupe). \
             Pour annuler ou déplacer, appelez le +33142868000."
        );
    }

    #[test]
    fn an_english_reminder_uses_a_twelve_hour_clock() {
        assert_eq!(
            reminder_text(Language::En, &facts(0, None)),
            "Reminder: your appointment at Salon Dupont on Tuesday 8 December at 12:05 am. \
             To cancel or move it, call +33142868000."
        );
        assert!(reminder_text(Language::En, &facts(13, None)).contains("at 1:05 pm."));
        assert!(reminder_text(Language::En, &facts(12, None)).contains("at 12:05 pm."));
    }
}
