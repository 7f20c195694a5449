//! Legal calling hours: a weekly schedule of local time ranges plus a public-holiday calendar,
//! evaluated in the contact's own time zone. The dialer asks [`CallingRules::is_open`] before
//! dialing, [`CallingRules::next_opening`] to plan a call, and [`CallingRules::window_end`] to
//! know how long it may keep calling.
//!
//! Daylight-saving changes are handled on instants: an instant is open iff its local time is in
//! a range of its local weekday and its local date is not a holiday. A range starting inside a
//! spring-forward gap opens when the clocks jump (if the range is still running then); a range
//! starting in a fall-back overlap opens at the first of the two instants, and a local time
//! that occurs twice is open both times.

use chrono::{DateTime, Datelike, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::holidays::HolidayCalendar;

/// The most ranges a single day of a [`WeeklySchedule`] may have.
pub const MAX_RANGES_PER_DAY: usize = 8;

/// How far ahead [`CallingRules::next_opening`] looks, in days.
pub const SEARCH_DAYS: i64 = 400;

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A time of day for the presets, checked when compiling.
const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => panic!("invalid preset time"),
    }
}

const FR_CONSUMER_DAY: [(NaiveTime, NaiveTime); 2] =
    [(hm(10, 0), hm(13, 0)), (hm(14, 0), hm(20, 0))];
const US_TCPA_DAY: (NaiveTime, NaiveTime) = (hm(8, 0), hm(21, 0));

/// For each weekday, the local time ranges `[start, end)` in which calls are allowed: sorted,
/// non-overlapping (adjacent is fine), each with `start < end`, at most
/// [`MAX_RANGES_PER_DAY`] per day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklySchedule {
    days: [Vec<(NaiveTime, NaiveTime)>; 7],
}

impl WeeklySchedule {
    /// Validates the ranges of each day, index 0 being Monday.
    pub fn new(days: [Vec<(NaiveTime, NaiveTime)>; 7]) -> Result<Self, String> {
        for (day, ranges) in DAY_NAMES.iter().zip(&days) {
            if ranges.len() > MAX_RANGES_PER_DAY {
                return Err(format!(
                    "{day}: at most {MAX_RANGES_PER_DAY} ranges a day, got {}",
                    ranges.len()
                ));
            }
            let mut previous: Option<(NaiveTime, NaiveTime)> = None;
            for &(start, end) in ranges {
                let range = format!("{day} {start}-{end}");
                if start.nanosecond() >= 1_000_000_000 || end.nanosecond() >= 1_000_000_000 {
                    return Err(format!("{range}: leap seconds are not allowed"));
                }
                if start >= end {
                    return Err(format!("{range}: the start must be before the end"));
                }
                if let Some((p_start, p_end)) = previous.filter(|&(_, p_end)| start < p_end) {
                    return Err(format!(
                        "{range}: overlaps or comes before the previous range {p_start}-{p_end}"
                    ));
                }
                previous = Some((start, end));
            }
        }
        Ok(Self { days })
    }

    /// The ranges of `day`.
    pub fn ranges(&self, day: Weekday) -> &[(NaiveTime, NaiveTime)] {
        &self.days[day.num_days_from_monday() as usize]
    }

    /// Whether `time` is inside one of the ranges of `day`.
    pub fn contains(&self, day: Weekday, time: NaiveTime) -> bool {
        self.ranges(day)
            .iter()
            .any(|&(start, end)| start <= time && time < end)
    }
}

/// When a contact may be called: a weekly schedule in the contact's local time, closed on the
/// holidays of a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingRules {
    /// The allowed local time ranges of each weekday.
    pub schedule: WeeklySchedule,
    /// The holidays on which no call is made, whatever the schedule says.
    pub holidays: HolidayCalendar,
}

impl CallingRules {
    /// French consumer prospecting (Code de la consommation D.223-9): Monday to Friday,
    /// 10:00-13:00 and 14:00-20:00, never on a French public holiday.
    pub fn fr_consumer() -> Self {
        let days = std::array::from_fn(|i| {
            if i < 5 {
                FR_CONSUMER_DAY.to_vec()
            } else {
                Vec::new()
            }
        });
        Self {
            schedule: WeeklySchedule { days },
            holidays: HolidayCalendar::France,
        }
    }

    /// US TCPA (47 CFR 64.1200(c)(1)): every day 08:00-21:00 local time. The TCPA has no
    /// holiday rule, so no calendar applies.
    pub fn us_tcpa() -> Self {
        Self {
            schedule: WeeklySchedule {
                days: std::array::from_fn(|_| vec![US_TCPA_DAY]),
            },
            holidays: HolidayCalendar::None,
        }
    }

    /// A preset by name: `"fr-consumer"` or `"us-tcpa"`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "fr-consumer" => Some(Self::fr_consumer()),
            "us-tcpa" => Some(Self::us_tcpa()),
            _ => None,
        }
    }

    /// Whether a call may be placed at `at` to a contact in `tz`: the local date is not a
    /// holiday and the local time is inside a range of the local weekday.
    pub fn is_open(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let local = at.with_timezone(&tz).naive_local();
        self.schedule.contains(local.weekday(), local.time())
            && !self.holidays.is_holiday(local.date())
    }

    /// The earliest instant at or after `after` at which [`CallingRules::is_open`] holds
    /// (`after` itself when open now), or `None` if there is none in the next
    /// [`SEARCH_DAYS`] days (an empty schedule, for instance).
    pub fn next_opening(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.first_instant(after, tz, true)
    }

    /// When open at `at`, the first instant after it at which calls stop being allowed, so a
    /// dialer knows how long it has; `None` when closed at `at`. Ranges that touch (one ending
    /// when the next starts, or meeting across a daylight-saving jump) form one window: the
    /// returned instant is always closed.
    pub fn window_end(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if !self.is_open(at, tz) {
            return None;
        }
        self.first_instant(at, tz, false)
    }

    /// The earliest instant `t >= from`, within [`SEARCH_DAYS`], with `is_open(t) == open`.
    ///
    /// The state can only change where the local time reaches a range bound while running
    /// continuously, or where the UTC offset changes (the local time jumps): each local day
    /// gives those candidates, and the earliest one in the wanted state wins. Days are walked
    /// in order, and the walk stops once no later day can give an earlier candidate.
    fn first_instant(&self, from: DateTime<Utc>, tz: Tz, open: bool) -> Option<DateTime<Utc>> {
        if self.is_open(from, tz) == open {
            return Some(from);
        }
        let horizon = from.checked_add_signed(TimeDelta::days(SEARCH_DAYS))?;
        let first_day = from.with_timezone(&tz).date_naive().pred_opt()?;
        let mut best: Option<DateTime<Utc>> = None;
        let mut candidates = Vec::new();
        for day in first_day.iter_days() {
            // Every candidate of `day` is at or after midnight UTC of the day before: UTC
            // offsets are less than a day.
            let floor = day.pred_opt()?.and_time(NaiveTime::MIN).and_utc();
            if best.is_some_and(|b| b <= floor) || floor > horizon {
                break;
            }
            candidates.clear();
            for &(start, end) in self.schedule.ranges(day.weekday()) {
                for time in [start, end] {
                    let local = tz.from_local_datetime(&day.and_time(time));
                    let instants = local.earliest().into_iter().chain(local.latest());
                    candidates.extend(instants.map(|t| t.with_timezone(&Utc)));
                }
            }
            offset_changes(tz, floor, &mut candidates);
            for &candidate in &candidates {
                if candidate > from
                    && candidate <= horizon
                    && best.is_none_or(|b| candidate < b)
                    && self.is_open(candidate, tz) == open
                {
                    best = Some(candidate);
                }
            }
        }
        best
    }
}

/// Pushes to `out` the instants in `(from, from + 24 h]` where the UTC offset of `tz` changes.
/// Looks in 3-hour steps (no zone changes twice that fast), then bisects to the second: the tz
/// database changes offsets on whole seconds.
fn offset_changes(tz: Tz, from: DateTime<Utc>, out: &mut Vec<DateTime<Utc>>) {
    let offset = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0)
            .map(|t| tz.offset_from_utc_datetime(&t.naive_utc()).fix())
    };
    let step = 3 * 3600;
    let mut low = from.timestamp();
    for _ in 0..8 {
        let before = offset(low);
        if offset(low + step) != before {
            let (mut a, mut b) = (low, low + step);
            while b - a > 1 {
                let mid = a + (b - a) / 2;
                if offset(mid) == before {
                    a = mid;
                } else {
                    b = mid;
                }
            }
            out.extend(DateTime::from_timestamp(b, 0));
        }
        low += step;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::{America, Australia, Europe, Pacific};
    use proptest::prelude::*;

    const PARIS: Tz = Europe::Paris;
    const NEW_YORK: Tz = America::New_York;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    /// Rules open only on Sundays, in `ranges`, with no holidays.
    fn sundays(ranges: &[(NaiveTime, NaiveTime)]) -> CallingRules {
        let mut days: [Vec<_>; 7] = Default::default();
        days[6] = ranges.to_vec();
        CallingRules {
            schedule: WeeklySchedule::new(days).unwrap(),
            holidays: HolidayCalendar::None,
        }
    }

    #[test]
    fn time_zone_names_parse() {
        assert_eq!("Europe/Paris".parse::<Tz>().unwrap(), PARIS);
        assert_eq!(
            "Australia/Lord_Howe".parse::<Tz>().unwrap(),
            Australia::Lord_Howe
        );
        assert!("europe/paris".parse::<Tz>().is_err());
    }

    #[test]
    fn fr_consumer_on_a_holiday_friday_opens_on_monday_morning() {
        let rules = CallingRules::fr_consumer();
        let may_day = utc("2026-05-01T09:00:00Z");
        assert!(!rules.is_open(may_day, PARIS));
        assert_eq!(
            rules.next_opening(may_day, PARIS),
            Some(utc("2026-05-04T08:00:00Z"))
        );
    }

    #[test]
    fn fr_consumer_at_friday_8_pm_opens_on_monday_at_10() {
        let rules = CallingRules::fr_consumer();
        assert!(rules.is_open(utc("2026-06-05T17:59:59Z"), PARIS));
        assert_eq!(
            rules.window_end(utc("2026-06-05T17:00:00Z"), PARIS),
            Some(utc("2026-06-05T18:00:00Z"))
        );
        assert_eq!(
            rules.next_opening(utc("2026-06-05T18:00:00Z"), PARIS),
            Some(utc("2026-06-08T08:00:00Z"))
        );
    }

    #[test]
    fn fr_consumer_at_lunch_time_opens_at_2_pm() {
        let rules = CallingRules::fr_consumer();
        assert_eq!(
            rules.next_opening(utc("2026-06-03T11:30:00Z"), PARIS),
            Some(utc("2026-06-03T12:00:00Z"))
        );
        assert_eq!(
            rules.window_end(utc("2026-06-03T08:30:00Z"), PARIS),
            Some(utc("2026-06-03T11:00:00Z"))
        );
        assert_eq!(rules.window_end(utc("2026-06-03T11:30:00Z"), PARIS), None);
    }

    #[test]
    fn us_tcpa_at_11_pm_in_new_york_opens_at_8_am_local() {
        let rules = CallingRules::us_tcpa();
        let late = utc("2026-06-04T03:00:00Z");
        assert!(!rules.is_open(late, NEW_YORK));
        assert_eq!(
            rules.next_opening(late, NEW_YORK),
            Some(utc("2026-06-04T12:00:00Z"))
        );
        assert_eq!(
            rules.window_end(utc("2026-06-04T20:00:00Z"), NEW_YORK),
            Some(utc("2026-06-05T01:00:00Z"))
        );
        // The TCPA has no holidays.
        assert!(rules.is_open(utc("2026-07-04T16:00:00Z"), NEW_YORK));
    }

    #[test]
    fn a_range_starting_in_the_paris_spring_gap_opens_when_the_clocks_jump() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
        let rules = sundays(&[(time(2, 30), time(4, 0))]);
        let night = utc("2026-03-28T23:00:00Z");
        assert_eq!(
            rules.next_opening(night, PARIS),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            rules.window_end(utc("2026-03-29T01:00:00Z"), PARIS),
            Some(utc("2026-03-29T02:00:00Z"))
        );
        // A range entirely inside the gap does not exist that day.
        let in_gap = sundays(&[(time(2, 30), time(2, 45))]);
        assert_eq!(
            in_gap.next_opening(night, PARIS),
            Some(utc("2026-04-05T00:30:00Z"))
        );
    }

    #[test]
    fn a_range_in_the_paris_autumn_overlap_opens_at_the_first_instant_and_again_after() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
        let rules = sundays(&[(time(2, 30), time(4, 0))]);
        let first = utc("2026-10-25T00:30:00Z");
        assert_eq!(
            rules.next_opening(utc("2026-10-24T22:00:00Z"), PARIS),
            Some(first)
        );
        // At 01:00 UTC the clocks go back to 02:00, before the range: closed until 02:30 CET.
        assert_eq!(
            rules.window_end(first, PARIS),
            Some(utc("2026-10-25T01:00:00Z"))
        );
        assert_eq!(
            rules.next_opening(utc("2026-10-25T01:00:00Z"), PARIS),
            Some(utc("2026-10-25T01:30:00Z"))
        );
        assert_eq!(
            rules.window_end(utc("2026-10-25T01:30:00Z"), PARIS),
            Some(utc("2026-10-25T03:00:00Z"))
        );
    }

    #[test]
    fn a_range_starting_in_the_new_york_spring_gap_opens_at_3_am() {
        // 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
        let rules = sundays(&[(time(2, 30), time(5, 0))]);
        assert_eq!(
            rules.next_opening(utc("2026-03-08T05:00:00Z"), NEW_YORK),
            Some(utc("2026-03-08T07:00:00Z"))
        );
    }

    #[test]
    fn new_york_autumn_ranges_take_the_earliest_instant() {
        // 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 02:30 exists once.
        let midnight = utc("2026-11-01T04:00:00Z");
        let after_overlap = sundays(&[(time(2, 30), time(5, 0))]);
        assert_eq!(
            after_overlap.next_opening(midnight, NEW_YORK),
            Some(utc("2026-11-01T07:30:00Z"))
        );
        let in_overlap = sundays(&[(time(1, 30), time(5, 0))]);
        let start = utc("2026-11-01T05:30:00Z");
        assert_eq!(in_overlap.next_opening(midnight, NEW_YORK), Some(start));
        // At 06:00 UTC the clocks go back to 01:00, before the range: closed until 01:30 EST.
        let fall_back = utc("2026-11-01T06:00:00Z");
        assert_eq!(in_overlap.window_end(start, NEW_YORK), Some(fall_back));
        let again = utc("2026-11-01T06:30:00Z");
        assert_eq!(in_overlap.next_opening(fall_back, NEW_YORK), Some(again));
        assert_eq!(
            in_overlap.window_end(again, NEW_YORK),
            Some(utc("2026-11-01T10:00:00Z"))
        );
    }

    #[test]
    fn lord_howe_moves_its_clocks_by_half_an_hour() {
        // 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11) at 15:30 UTC the day before.
        let rules = sundays(&[(time(2, 0), time(3, 0))]);
        assert_eq!(
            rules.next_opening(utc("2026-10-03T12:00:00Z"), Australia::Lord_Howe),
            Some(utc("2026-10-03T15:30:00Z"))
        );
    }

    #[test]
    fn an_empty_schedule_never_opens() {
        let rules = CallingRules {
            schedule: WeeklySchedule::new(Default::default()).unwrap(),
            holidays: HolidayCalendar::France,
        };
        let now = utc("2026-06-03T10:00:00Z");
        assert_eq!(rules.next_opening(now, PARIS), None);
        assert_eq!(rules.window_end(now, PARIS), None);
    }

    #[test]
    fn adjacent_ranges_form_one_window() {
        let rules = sundays(&[(time(9, 0), time(12, 0)), (time(12, 0), time(13, 0))]);
        assert_eq!(
            rules.window_end(utc("2026-06-07T08:00:00Z"), PARIS),
            Some(utc("2026-06-07T11:00:00Z"))
        );
    }

    #[test]
    fn invalid_schedules_are_refused_with_the_day_and_range() {
        let mut days: [Vec<_>; 7] = Default::default();
        days[1] = vec![(time(14, 0), time(13, 0))];
        let error = WeeklySchedule::new(days).unwrap_err();
        assert!(error.contains("Tuesday 14:00:00-13:00:00"), "{error}");

        let mut days: [Vec<_>; 7] = Default::default();
        days[2] = vec![(time(10, 0), time(13, 0)), (time(12, 0), time(14, 0))];
        let error = WeeklySchedule::new(days).unwrap_err();
        assert!(
            error.contains("Wednesday 12:00:00-14:00:00") && error.contains("overlaps"),
            "{error}"
        );

        let mut days: [Vec<_>; 7] = Default::default();
        days[0] = vec![(time(14, 0), time(15, 0)), (time(10, 0), time(11, 0))];
        assert!(WeeklySchedule::new(days).unwrap_err().contains("Monday"));

        let mut days: [Vec<_>; 7] = Default::default();
        days[4] = (0..9).map(|h| (time(h, 0), time(h, 30))).collect();
        assert!(WeeklySchedule::new(days).unwrap_err().contains("Friday"));

        let leap = NaiveTime::from_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        let mut days: [Vec<_>; 7] = Default::default();
        days[6] = vec![(time(10, 0), leap)];
        assert!(WeeklySchedule::new(days).unwrap_err().contains("leap"));
    }

    #[test]
    fn presets_are_valid_and_found_by_name() {
        for name in ["fr-consumer", "us-tcpa"] {
            let rules = CallingRules::preset(name).unwrap();
            let days = std::array::from_fn(|i| rules.schedule.days[i].clone());
            assert_eq!(WeeklySchedule::new(days).as_ref(), Ok(&rules.schedule));
        }
        assert_eq!(CallingRules::preset("fr"), None);
        assert!(
            CallingRules::fr_consumer()
                .schedule
                .ranges(Weekday::Sat)
                .is_empty()
        );
    }

    // Property tests.

    const ZONES: [Tz; 4] = [
        Europe::Paris,
        America::New_York,
        Pacific::Auckland,
        Australia::Lord_Howe,
    ];

    /// 2024-01-01T00:00:00Z and 2036-01-01T00:00:00Z.
    const FROM: i64 = 1_704_067_200;
    const UNTIL: i64 = 2_082_758_400;

    fn quarter(q: u32) -> NaiveTime {
        time(q / 4, q % 4 * 15)
    }

    /// Up to 4 ranges on 15-minute bounds, some adjacent, ending at 23:45 at the latest.
    fn arb_day() -> impl Strategy<Value = Vec<(NaiveTime, NaiveTime)>> {
        prop::collection::vec((0u32..24, 1u32..40), 0..=4).prop_map(|steps| {
            let mut ranges = Vec::new();
            let mut at = 0;
            for (gap, len) in steps {
                let (start, end) = (at + gap, at + gap + len);
                if end > 95 {
                    break;
                }
                ranges.push((quarter(start), quarter(end)));
                at = end;
            }
            ranges
        })
    }

    fn arb_rules() -> impl Strategy<Value = CallingRules> {
        let calendar = prop::sample::select(vec![
            HolidayCalendar::France,
            HolidayCalendar::FranceAlsaceMoselle,
            HolidayCalendar::UnitedStatesFederal,
            HolidayCalendar::None,
        ]);
        let custom = (prop::array::uniform7(arb_day()), calendar).prop_map(|(days, holidays)| {
            CallingRules {
                schedule: WeeklySchedule::new(days).unwrap(),
                holidays,
            }
        });
        prop_oneof![
            4 => custom,
            1 => Just(CallingRules::fr_consumer()),
            1 => Just(CallingRules::us_tcpa()),
        ]
    }

    /// A zone and an instant: uniform over 2024-2035, or within two days of an offset change.
    fn arb_zone_and_instant() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
        let zone = prop::sample::select(ZONES.to_vec());
        (zone, FROM..UNTIL, any::<bool>(), -172_800i64..172_800).prop_map(
            |(tz, seconds, near_change, shift)| {
                let at = DateTime::from_timestamp(seconds, 0).unwrap();
                if !near_change {
                    return (tz, at);
                }
                let mut changes = Vec::new();
                let mut day = at;
                while changes.is_empty() {
                    offset_changes(tz, day, &mut changes);
                    day += TimeDelta::days(1);
                }
                (tz, changes[0] + TimeDelta::seconds(shift))
            },
        )
    }

    /// The instant a fraction `f / 2^32` of the way from `a` to `b`.
    fn between(a: DateTime<Utc>, b: DateTime<Utc>, f: u32) -> DateTime<Utc> {
        let span = (b - a).num_milliseconds() as i128;
        a + TimeDelta::milliseconds(((span * i128::from(f)) >> 32) as i64)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn next_opening_is_the_first_open_instant(
            rules in arb_rules(),
            (tz, t) in arb_zone_and_instant(),
            samples in prop::collection::vec(any::<u32>(), 32),
        ) {
            let opening = rules.next_opening(t, tz);
            if rules.is_open(t, tz) {
                prop_assert_eq!(opening, Some(t));
            }
            let end = opening.unwrap_or(t + TimeDelta::days(SEARCH_DAYS));
            prop_assert!(end >= t);
            if let Some(o) = opening {
                prop_assert!(rules.is_open(o, tz), "closed at the opening {o}");
            }
            for f in samples.into_iter().filter(|_| end > t) {
                let s = between(t, end, f);
                prop_assert!(!rules.is_open(s, tz), "open at {s}, before the opening {end}");
            }
            for before in [TimeDelta::minutes(1), TimeDelta::seconds(1)] {
                let s = end - before;
                if s >= t && opening.is_some() {
                    prop_assert!(!rules.is_open(s, tz), "open at {s}, before the opening {end}");
                }
            }
        }

        #[test]
        fn window_end_is_the_first_closed_instant(
            rules in arb_rules(),
            (tz, t) in arb_zone_and_instant(),
            samples in prop::collection::vec(any::<u32>(), 32),
        ) {
            if !rules.is_open(t, tz) {
                prop_assert_eq!(rules.window_end(t, tz), None);
            }
            let Some(start) = rules.next_opening(t, tz) else { return Ok(()) };
            let end = rules.window_end(start, tz);
            prop_assert!(end.is_some(), "no end for the window opening at {start}");
            let end = end.unwrap();
            prop_assert!(end > start);
            prop_assert!(!rules.is_open(end, tz), "open at the window end {end}");
            prop_assert!(rules.is_open(end - TimeDelta::seconds(1), tz));
            for f in samples {
                let s = between(start, end, f);
                prop_assert!(rules.is_open(s, tz), "closed at {s}, inside {start}..{end}");
            }
        }

        #[test]
        fn never_open_on_a_local_holiday(
            rules in arb_rules(),
            tz in prop::sample::select(ZONES.to_vec()),
            year in 2024i32..=2035,
            pick in any::<prop::sample::Index>(),
            minute in 0u32..1440,
        ) {
            let holidays = rules.holidays.holidays(year);
            if holidays.is_empty() {
                return Ok(());
            }
            let (date, _) = holidays[pick.index(holidays.len())];
            let local = date.and_time(time(minute / 60, minute % 60));
            let mapped = tz.from_local_datetime(&local);
            for at in mapped.earliest().into_iter().chain(mapped.latest()) {
                prop_assert!(!rules.is_open(at.with_timezone(&Utc), tz), "open on {date}");
            }
            let day_start = tz.from_local_datetime(&date.and_time(NaiveTime::MIN)).earliest();
            let opening = day_start.and_then(|d| rules.next_opening(d.with_timezone(&Utc), tz));
            if let Some(o) = opening {
                let opened_on = o.with_timezone(&tz).date_naive();
                prop_assert!(!rules.holidays.is_holiday(opened_on));
                prop_assert_ne!(opened_on, date);
            }
        }
    }

    #[test]
    fn a_year_of_fr_consumer_windows_follows_one_another() {
        let rules = CallingRules::fr_consumer();
        let mut at = utc("2026-01-01T00:00:00Z");
        for _ in 0..1000 {
            at = rules.next_opening(at, PARIS).unwrap();
            at = rules.window_end(at, PARIS).unwrap();
        }
        // Two windows per working day, about 250 working days a year.
        assert!(at.date_naive() > NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
    }
}
