//! A business's structured opening hours: a weekly schedule of local time ranges in the
//! business's time zone, a public-holiday calendar, the dates it is closed, and how
//! appointments are offered (the grid their starts fall on, the notice a booking needs).
//!
//! The free-text `opening_hours` stays for the assistant's prompt; these hours are what
//! availability and bookings are computed from. The schedule and holidays are those of the
//! calling windows ([`CallingRules`]), so daylight-saving changes follow the same rules.

use chrono::{NaiveDate, NaiveTime, TimeDelta, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::assistant::FieldError;
use super::calling_window::{CallingRules, MAX_RANGES_PER_DAY, WeeklySchedule};
use super::holidays::HolidayCalendar;

/// The day names of `weekly`, Monday first.
pub const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The grids slot starts may fall on, in minutes.
pub const SLOT_STEPS: [u32; 6] = [5, 10, 15, 20, 30, 60];

/// The slot grid when none is given, in minutes.
pub const DEFAULT_SLOT_STEP: u32 = 15;

/// The notice a booking needs when none is given, in minutes.
pub const DEFAULT_MIN_NOTICE: u32 = 60;

/// The longest notice a business may ask for, in minutes (30 days).
pub const MAX_MIN_NOTICE: u32 = 30 * 24 * 60;

/// The most closed dates a business may list.
pub const MAX_CLOSED_DATES: usize = 366;

/// The ranges of each day as given: each range a pair `["HH:MM", "HH:MM"]`, start included,
/// end excluded. A day left out is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WeeklyHoursSpec {
    /// Monday's ranges, e.g. `[["09:00", "12:00"], ["14:00", "18:30"]]`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 8, example = json!([["09:00", "12:00"], ["14:00", "18:30"]])))]
    pub monday: Vec<Vec<String>>,
    /// Tuesday's ranges.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub tuesday: Vec<Vec<String>>,
    /// Wednesday's ranges.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub wednesday: Vec<Vec<String>>,
    /// Thursday's ranges.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub thursday: Vec<Vec<String>>,
    /// Friday's ranges.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub friday: Vec<Vec<String>>,
    /// Saturday's ranges.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub saturday: Vec<Vec<String>>,
    /// Sunday's ranges.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 8))]
    pub sunday: Vec<Vec<String>>,
}

impl WeeklyHoursSpec {
    fn days(&self) -> [&Vec<Vec<String>>; 7] {
        [
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
            &self.saturday,
            &self.sunday,
        ]
    }
}

/// Structured opening hours, as given and as shown (shown with every default filled in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HoursSpec {
    /// The business's IANA time zone; every range and date is read in it.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, examples("Europe/Paris")))]
    pub time_zone: Option<String>,
    /// The open ranges of each weekday; at least one range in the week.
    #[cfg_attr(feature = "openapi", schema(value_type = WeeklyHoursSpec, required = true))]
    pub weekly: Option<WeeklyHoursSpec>,
    /// The public holidays on which the business is closed: `fr`, `fr-alsace-moselle`,
    /// `us-federal` or `none` (the default).
    #[cfg_attr(feature = "openapi", schema(examples("fr")))]
    pub holidays: Option<String>,
    /// Other dates it is closed (`YYYY-MM-DD`, local), at most 366.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 366, example = json!(["2026-12-26"])))]
    pub closed_dates: Vec<String>,
    /// The grid slot starts fall on, in minutes from local midnight: 5, 10, 15 (the
    /// default), 20, 30 or 60.
    pub slot_step_minutes: Option<u32>,
    /// How long before its start a slot can still be booked, in minutes: 0 to 43,200
    /// (30 days), 60 by default.
    #[cfg_attr(feature = "openapi", schema(maximum = 43200))]
    pub min_notice_minutes: Option<u32>,
}

/// Validated opening hours. Built only by [`HoursSpec::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    time_zone: Tz,
    rules: CallingRules,
    closed_dates: Vec<NaiveDate>,
    slot_step: u32,
    min_notice: u32,
}

impl BusinessHours {
    /// The business's time zone.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The weekly schedule and the holiday calendar, as calling-window rules.
    pub fn rules(&self) -> &CallingRules {
        &self.rules
    }

    /// The dates it is closed besides holidays, sorted, each once.
    pub fn closed_dates(&self) -> &[NaiveDate] {
        &self.closed_dates
    }

    /// Whether the business is closed all day on the local `date` (a holiday or a closed date).
    pub fn closed_on(&self, date: NaiveDate) -> bool {
        self.closed_dates.binary_search(&date).is_ok() || self.rules.holidays.is_holiday(date)
    }

    /// The grid of slot starts.
    pub fn slot_step(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.slot_step))
    }

    /// How long before its start a slot can still be booked.
    pub fn min_notice(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.min_notice))
    }

    /// The hours as the API shows them: every default filled in.
    pub fn to_spec(&self) -> HoursSpec {
        let hm = |t: &NaiveTime| t.format("%H:%M").to_string();
        let day = |i: usize| {
            let weekday = WEEKDAYS[i];
            self.rules
                .schedule
                .ranges(weekday)
                .iter()
                .map(|(s, e)| vec![hm(s), hm(e)])
                .collect()
        };
        HoursSpec {
            time_zone: Some(self.time_zone.name().to_string()),
            weekly: Some(WeeklyHoursSpec {
                monday: day(0),
                tuesday: day(1),
                wednesday: day(2),
                thursday: day(3),
                friday: day(4),
                saturday: day(5),
                sunday: day(6),
            }),
            holidays: Some(self.rules.holidays.as_str().to_string()),
            closed_dates: self.closed_dates.iter().map(|d| d.to_string()).collect(),
            slot_step_minutes: Some(self.slot_step),
            min_notice_minutes: Some(self.min_notice),
        }
    }
}

impl Serialize for BusinessHours {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_spec().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for BusinessHours {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spec = HoursSpec::deserialize(deserializer)?;
        spec.validate("hours").map_err(|errors| {
            let text: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            serde::de::Error::custom(text.join("; "))
        })
    }
}

/// Parses `HH:MM` (00:00 to 23:59).
fn parse_time(text: &str) -> Result<NaiveTime, String> {
    let bad = || format!("{text:?} is not a time HH:MM (00:00 to 23:59)");
    if text == "24:00" {
        return Err("24:00 is not a time of day: end the range at 23:59".into());
    }
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return Err(bad());
    }
    let number = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
    };
    match (number(&text[..2]), number(&text[3..])) {
        (Some(h), Some(m)) => NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad),
        _ => Err(bad()),
    }
}

impl HoursSpec {
    /// Validates the hours, naming each bad field under `prefix` (`business.hours`), and
    /// returns every error at once.
    pub fn validate(&self, prefix: &str) -> Result<BusinessHours, Vec<FieldError>> {
        let mut errors = Vec::new();
        let field = |name: &str| format!("{prefix}.{name}");
        let time_zone = match self.time_zone.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new(field("time_zone"), "is required"));
                None
            }
            Some(name) => match name.parse::<Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    errors.push(FieldError::new(
                        field("time_zone"),
                        format!("{name:?} is not an IANA time zone (e.g. Europe/Paris)"),
                    ));
                    None
                }
            },
        };
        let schedule = match &self.weekly {
            None => {
                errors.push(FieldError::new(field("weekly"), "is required"));
                None
            }
            Some(weekly) => weekly_schedule(weekly, &field("weekly"), &mut errors),
        };
        let holidays = match self.holidays.as_deref() {
            None => Some(HolidayCalendar::None),
            Some(name) => HolidayCalendar::parse(name).or_else(|| {
                errors.push(FieldError::new(
                    field("holidays"),
                    "must be one of fr, fr-alsace-moselle, us-federal, none",
                ));
                None
            }),
        };
        if self.closed_dates.len() > MAX_CLOSED_DATES {
            errors.push(FieldError::new(
                field("closed_dates"),
                format!("must list at most {MAX_CLOSED_DATES} dates"),
            ));
        }
        let mut closed_dates = Vec::new();
        for (i, text) in self.closed_dates.iter().enumerate() {
            match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                Ok(date) => closed_dates.push(date),
                Err(_) => errors.push(FieldError::new(
                    field(&format!("closed_dates[{i}]")),
                    format!("{text:?} is not a date YYYY-MM-DD"),
                )),
            }
        }
        closed_dates.sort();
        closed_dates.dedup();
        let slot_step = self.slot_step_minutes.unwrap_or(DEFAULT_SLOT_STEP);
        if !SLOT_STEPS.contains(&slot_step) {
            errors.push(FieldError::new(
                field("slot_step_minutes"),
                "must be one of 5, 10, 15, 20, 30, 60",
            ));
        }
        let min_notice = self.min_notice_minutes.unwrap_or(DEFAULT_MIN_NOTICE);
        if min_notice > MAX_MIN_NOTICE {
            errors.push(FieldError::new(
                field("min_notice_minutes"),
                format!("must be at most {MAX_MIN_NOTICE} (30 days)"),
            ));
        }
        match (time_zone, schedule, holidays) {
            (Some(time_zone), Some(schedule), Some(holidays)) if errors.is_empty() => {
                Ok(BusinessHours {
                    time_zone,
                    rules: CallingRules { schedule, holidays },
                    closed_dates,
                    slot_step,
                    min_notice,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The weekly schedule of `weekly`, or `None` after pushing its errors.
fn weekly_schedule(
    weekly: &WeeklyHoursSpec,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Option<WeeklySchedule> {
    let before = errors.len();
    let mut days: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
    for ((name, given), ranges) in DAY_NAMES.iter().zip(weekly.days()).zip(days.iter_mut()) {
        let day_field = format!("{prefix}.{name}");
        if given.len() > MAX_RANGES_PER_DAY {
            errors.push(FieldError::new(
                &day_field,
                format!("at most {MAX_RANGES_PER_DAY} ranges a day"),
            ));
            continue;
        }
        for (i, pair) in given.iter().enumerate() {
            let range_field = format!("{day_field}[{i}]");
            let [start, end] = pair.as_slice() else {
                errors.push(FieldError::new(
                    &range_field,
                    r#"must be a pair of times, e.g. ["09:00", "12:00"]"#,
                ));
                continue;
            };
            let start = parse_time(start.trim())
                .map_err(|m| errors.push(FieldError::new(format!("{range_field}[0]"), m)));
            let end = parse_time(end.trim())
                .map_err(|m| errors.push(FieldError::new(format!("{range_field}[1]"), m)));
            let (Ok(start), Ok(end)) = (start, end) else {
                continue;
            };
            let text = format!("{}-{}", start.format("%H:%M"), end.format("%H:%M"));
            if start > end {
                errors.push(FieldError::new(
                    &range_field,
                    format!("the range {text} ends before it starts"),
                ));
            } else if start == end {
                errors.push(FieldError::new(
                    &range_field,
                    format!("the range {text} is empty"),
                ));
            } else if let Some(&(p_start, p_end)) = ranges.last().filter(|(_, e)| start < *e) {
                errors.push(FieldError::new(
                    &range_field,
                    format!(
                        "the range {text} overlaps or comes before the range {}-{}: list a day's ranges in order, without overlaps",
                        p_start.format("%H:%M"),
                        p_end.format("%H:%M")
                    ),
                ));
            } else {
                ranges.push((start, end));
            }
        }
    }
    if errors.len() > before {
        return None;
    }
    if days.iter().all(Vec::is_empty) {
        errors.push(FieldError::new(
            prefix,
            "open at least one range in the week",
        ));
        return None;
    }
    WeeklySchedule::new(days)
        .map_err(|m| errors.push(FieldError::new(prefix, m)))
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> HoursSpec {
        serde_json::from_value(value).unwrap()
    }

    fn salon() -> serde_json::Value {
        json!({
            "time_zone": "Europe/Paris",
            "weekly": {"tuesday": [["09:00", "12:00"], ["14:00", "18:30"]],
                       "saturday": [["09:00", "17:00"]]},
            "holidays": "fr",
            "closed_dates": ["2026-12-26", "2026-08-10", "2026-12-26"]
        })
    }

    #[test]
    fn valid_hours_are_kept_with_their_defaults_and_shown_the_same_way() {
        let hours = spec(salon()).validate("business.hours").unwrap();
        assert_eq!(hours.time_zone(), chrono_tz::Europe::Paris);
        assert_eq!(hours.slot_step(), TimeDelta::minutes(15));
        assert_eq!(hours.min_notice(), TimeDelta::minutes(60));
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            hours.closed_dates(),
            &[day("2026-08-10"), day("2026-12-26")]
        );
        assert!(hours.closed_on(day("2026-05-01")));
        assert!(!hours.closed_on(day("2026-05-05")));
        let shown = serde_json::to_value(&hours).unwrap();
        assert_eq!(
            shown["weekly"]["tuesday"],
            json!([["09:00", "12:00"], ["14:00", "18:30"]])
        );
        assert_eq!(shown["weekly"]["monday"], json!([]));
        assert_eq!(shown["holidays"], "fr");
        assert_eq!(shown["slot_step_minutes"], 15);
        let back: BusinessHours = serde_json::from_value(shown).unwrap();
        assert_eq!(back, hours);
    }

    #[test]
    fn each_bad_range_is_named_by_its_day_and_position() {
        let errors = spec(json!({
            "time_zone": "Europe/Paris",
            "weekly": {
                "monday": [["09:00", "12:00"], ["14:00", "12:00"]],
                "tuesday": [["09:00", "12:00"], ["11:00", "13:00"]],
                "wednesday": [["9h", "12:00"]],
                "thursday": [["09:00"]],
                "friday": [["10:00", "24:00"]],
                "saturday": [["10:00", "10:00"]]
            }
        }))
        .validate("business.hours")
        .unwrap_err();
        let find = |f: &str| {
            errors
                .iter()
                .find(|e| e.field == f)
                .unwrap_or_else(|| panic!("{f} missing from {errors:?}"))
                .message
                .clone()
        };
        assert_eq!(
            find("business.hours.weekly.monday[1]"),
            "the range 14:00-12:00 ends before it starts"
        );
        assert!(find("business.hours.weekly.tuesday[1]").contains("overlaps"));
        assert!(find("business.hours.weekly.wednesday[0][0]").contains("HH:MM"));
        assert!(find("business.hours.weekly.thursday[0]").contains("pair"));
        assert!(find("business.hours.weekly.friday[0][1]").contains("23:59"));
        assert!(find("business.hours.weekly.saturday[0]").contains("empty"));
    }

    #[test]
    fn every_other_bad_field_is_reported_at_once() {
        let errors = spec(json!({
            "time_zone": "Europe/Pariss",
            "weekly": {},
            "holidays": "de",
            "closed_dates": ["26/12/2026"],
            "slot_step_minutes": 7,
            "min_notice_minutes": 50000
        }))
        .validate("business.hours")
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "business.hours.time_zone",
            "business.hours.weekly",
            "business.hours.holidays",
            "business.hours.closed_dates[0]",
            "business.hours.slot_step_minutes",
            "business.hours.min_notice_minutes",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let missing = HoursSpec::default().validate("hours").unwrap_err();
        let fields: Vec<_> = missing.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["hours.time_zone", "hours.weekly"]);
    }

    #[test]
    fn too_many_ranges_a_day_are_refused() {
        let ranges: Vec<_> = (0..9)
            .map(|h| json!([format!("{:02}:00", h + 8), format!("{:02}:30", h + 8)]))
            .collect();
        let errors = spec(json!({"time_zone": "UTC", "weekly": {"sunday": ranges}}))
            .validate("h")
            .unwrap_err();
        assert_eq!(errors[0].field, "h.weekly.sunday");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<HoursSpec>(json!({"timezone": "UTC"})).is_err());
        assert!(serde_json::from_value::<HoursSpec>(json!({"weekly": {"lundi": []}})).is_err());
    }
}
