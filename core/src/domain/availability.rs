//! Free appointment slots: the business's opening hours, minus the busy events of its
//! calendar, minus the appointments already booked, cut into slots of the asked duration whose
//! starts fall on the business's grid. And the check a booking makes before it is written.
//!
//! Everything is computed on instants (UTC), with the opening hours evaluated in the
//! business's time zone by [`CallingRules`](super::calling_window::CallingRules): a slot is
//! always `duration` of real time, never starts in a local hour that does not exist (the
//! spring-forward gap), and the local hour that occurs twice in autumn gives its slots twice,
//! one per instant. All-day events and closed dates cover a whole local day.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::business_hours::BusinessHours;

/// The shortest slot, in minutes.
pub const MIN_DURATION_MINUTES: i64 = 5;

/// The longest slot, in minutes (8 hours).
pub const MAX_DURATION_MINUTES: i64 = 8 * 60;

/// The longest window one availability request may cover, in days.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// Time that cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// `[start, end)`: a timed event or an appointment.
    Between(DateTime<Utc>, DateTime<Utc>),
    /// The local days `[first, end)` of the business: an all-day event.
    Days(NaiveDate, NaiveDate),
}

/// A free slot, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Start.
    pub start: DateTime<Utc>,
    /// End, exclusive.
    pub end: DateTime<Utc>,
}

/// Why a slot cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// It starts in the past or sooner than the business's minimum notice.
    TooSoon,
    /// It is not entirely inside the opening hours (or falls on a holiday or closed date).
    Closed,
    /// It overlaps a busy event or another appointment.
    Busy,
}

/// The first instant of the local `date` in `tz`: local midnight, or the first minute after it
/// that exists when the clocks jump over midnight.
pub fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut local = date.and_time(NaiveTime::MIN);
    // Offsets change by less than a day: some minute of the next 24 hours exists.
    for _ in 0..=24 * 60 {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += TimeDelta::minutes(1);
    }
    local.and_utc()
}

/// The busy intervals in UTC, sorted and merged, with the business's closed dates that touch
/// `[from, to)` added.
fn busy_intervals(
    hours: &BusinessHours,
    busy: &[Busy],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let tz = hours.time_zone();
    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = busy
        .iter()
        .map(|b| match *b {
            Busy::Between(start, end) => (start, end),
            Busy::Days(first, end) => (day_start(tz, first), day_start(tz, end)),
        })
        .filter(|(start, end)| start < end && *start < to && *end > from)
        .collect();
    let first_day = from.with_timezone(&tz).date_naive();
    let last_day = to.with_timezone(&tz).date_naive();
    for &date in hours.closed_dates() {
        if date >= first_day && date <= last_day {
            let next = date.succ_opt().unwrap_or(date);
            spans.push((day_start(tz, date), day_start(tz, next)));
        }
    }
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The open windows of the weekly schedule (holidays excluded) that meet `[from, to)`,
/// clipped to it, in order.
fn open_windows(
    hours: &BusinessHours,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (rules, tz) = (hours.rules(), hours.time_zone());
    let mut windows = Vec::new();
    let mut at = from;
    while at < to {
        let Some(open) = rules.next_opening(at, tz).filter(|&o| o < to) else {
            break;
        };
        // Open with no end in sight (always open): open to the end of the request.
        let close = rules.window_end(open, tz).unwrap_or(to).min(to);
        windows.push((open, close));
        at = close;
    }
    windows
}

/// `windows` minus `busy`, both sorted and disjoint.
fn subtract(
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
    busy: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut free = Vec::new();
    let mut b = 0;
    for &(start, end) in windows {
        let mut cursor = start;
        while b < busy.len() && busy[b].1 <= cursor {
            b += 1;
        }
        let mut i = b;
        while i < busy.len() && busy[i].0 < end {
            if busy[i].0 > cursor {
                free.push((cursor, busy[i].0));
            }
            cursor = cursor.max(busy[i].1);
            i += 1;
        }
        if cursor < end {
            free.push((cursor, end));
        }
    }
    free
}

/// The first instant at or after `t` whose local time is on the grid of `step` minutes from
/// local midnight.
fn grid_ceil(t: DateTime<Utc>, tz: Tz, step: TimeDelta) -> DateTime<Utc> {
    let step_secs = step.num_seconds().max(1);
    let mut t = t;
    // A jump of the clocks can move an aligned instant off the grid: align again (offsets
    // change by multiples of 15 minutes, so this settles at once in practice).
    for _ in 0..4 {
        let local = t.with_timezone(&tz);
        let nanos = i64::from(local.nanosecond() % 1_000_000_000);
        let secs = i64::from(local.num_seconds_from_midnight());
        let rem = secs % step_secs;
        if rem == 0 && nanos == 0 {
            return t;
        }
        t = t - TimeDelta::nanoseconds(nanos) + TimeDelta::seconds(step_secs - rem);
    }
    t
}

/// The free slots of `duration` in `[from, to)`: inside the opening hours, not on a holiday
/// or closed date, overlapping nothing in `busy`, starting no sooner than `now` plus the
/// business's minimum notice, with starts on the business's grid. Sorted by start;
/// consecutive slots overlap when the duration is longer than the grid step.
pub fn free_slots(
    hours: &BusinessHours,
    busy: &[Busy],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    duration: TimeDelta,
    now: DateTime<Utc>,
) -> Vec<Slot> {
    let from = from.max(now + hours.min_notice());
    if from >= to || duration <= TimeDelta::zero() {
        return Vec::new();
    }
    let tz = hours.time_zone();
    let step = hours.slot_step();
    let free = subtract(
        &open_windows(hours, from, to),
        &busy_intervals(hours, busy, from, to),
    );
    let mut slots = Vec::new();
    for (start, end) in free {
        let mut t = grid_ceil(start, tz, step);
        while t + duration <= end {
            slots.push(Slot {
                start: t,
                end: t + duration,
            });
            t = grid_ceil(t + step, tz, step);
        }
    }
    slots
}

/// Whether `[start, end)` can be booked at `now`: soon enough, entirely inside the opening
/// hours, and free. The start need not be on the grid.
pub fn check_slot(
    hours: &BusinessHours,
    busy: &[Busy],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Unavailable> {
    if start < now + hours.min_notice() {
        return Err(Unavailable::TooSoon);
    }
    let (rules, tz) = (hours.rules(), hours.time_zone());
    let inside = end > start
        && rules.is_open(start, tz)
        && rules.window_end(start, tz).is_none_or(|close| close >= end);
    let closed_dates = busy_intervals(hours, &[], start, end);
    if !inside || subtract(&[(start, end)], &closed_dates) != [(start, end)] {
        return Err(Unavailable::Closed);
    }
    let taken = busy_intervals(hours, busy, start, end);
    if subtract(&[(start, end)], &taken) != [(start, end)] {
        return Err(Unavailable::Busy);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::business_hours::HoursSpec;
    use proptest::prelude::*;
    use serde_json::json;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn hours(value: serde_json::Value) -> BusinessHours {
        serde_json::from_value::<HoursSpec>(value)
            .unwrap()
            .validate("hours")
            .unwrap()
    }

    fn starts(slots: &[Slot], tz: Tz) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.start.with_timezone(&tz).format("%a %H:%M%:z").to_string())
            .collect()
    }

    /// Long ago, so the minimum notice never cuts anything.
    fn long_ago() -> DateTime<Utc> {
        utc("2000-01-01T00:00:00Z")
    }

    fn salon() -> BusinessHours {
        hours(json!({
            "time_zone": "Europe/Paris",
            "weekly": {"tuesday": [["09:00", "12:00"], ["14:00", "18:30"]]},
            "holidays": "fr", "closed_dates": ["2026-06-16"],
            "slot_step_minutes": 30, "min_notice_minutes": 120
        }))
    }

    #[test]
    fn a_day_of_hours_minus_an_event_and_an_appointment_gives_the_slots_between() {
        let tz = chrono_tz::Europe::Paris;
        // Tuesday 2026-06-09, Paris is UTC+2.
        let busy = [
            Busy::Between(utc("2026-06-09T07:30:00Z"), utc("2026-06-09T08:15:00Z")),
            Busy::Between(utc("2026-06-09T12:00:00Z"), utc("2026-06-09T13:00:00Z")),
        ];
        let slots = free_slots(
            &salon(),
            &busy,
            utc("2026-06-08T22:00:00Z"),
            utc("2026-06-09T22:00:00Z"),
            TimeDelta::minutes(60),
            long_ago(),
        );
        assert_eq!(
            starts(&slots, tz),
            [
                // 09:30-10:15 is taken: the morning starts again at 10:30 (the grid).
                "Tue 10:30+02:00",
                "Tue 11:00+02:00",
                "Tue 15:00+02:00",
                "Tue 15:30+02:00",
                "Tue 16:00+02:00",
                "Tue 16:30+02:00",
                "Tue 17:00+02:00",
                "Tue 17:30+02:00",
            ]
        );
        assert!(slots.iter().all(|s| s.end - s.start == TimeDelta::hours(1)));
    }

    #[test]
    fn holidays_closed_dates_and_all_day_events_close_the_whole_local_day() {
        let h = salon();
        let week = |from: &str, to: &str, busy: &[Busy]| {
            free_slots(
                &h,
                busy,
                utc(from),
                utc(to),
                TimeDelta::minutes(30),
                long_ago(),
            )
        };
        // Tuesday 14 July 2026 is the Fête nationale; 16 June a closed date.
        assert!(week("2026-07-13T22:00:00Z", "2026-07-14T22:00:00Z", &[]).is_empty());
        assert!(week("2026-06-15T22:00:00Z", "2026-06-16T22:00:00Z", &[]).is_empty());
        let day = NaiveDate::from_ymd_opt(2026, 6, 23).unwrap();
        let all_day = [Busy::Days(day, day.succ_opt().unwrap())];
        assert!(week("2026-06-22T22:00:00Z", "2026-06-23T22:00:00Z", &all_day).is_empty());
        assert_eq!(
            week("2026-06-22T22:00:00Z", "2026-06-23T22:00:00Z", &[]).len(),
            6 + 9
        );
    }

    #[test]
    fn the_minimum_notice_cuts_the_first_slots() {
        let slots = free_slots(
            &salon(),
            &[],
            utc("2026-06-09T00:00:00Z"),
            utc("2026-06-10T00:00:00Z"),
            TimeDelta::minutes(30),
            utc("2026-06-09T07:10:00Z"),
        );
        // 09:10 local plus two hours: the first start on the grid is 11:30.
        assert_eq!(slots[0].start, utc("2026-06-09T09:30:00Z"));
    }

    #[test]
    fn the_spring_forward_night_gives_real_hours_and_no_slot_in_the_missing_hour() {
        // Sunday 2026-03-29 in Paris: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
        let tz = chrono_tz::Europe::Paris;
        let h = hours(json!({
            "time_zone": "Europe/Paris", "weekly": {"sunday": [["01:00", "04:00"]]},
            "slot_step_minutes": 30
        }));
        let slots = free_slots(
            &h,
            &[],
            utc("2026-03-28T12:00:00Z"),
            utc("2026-03-29T12:00:00Z"),
            TimeDelta::minutes(60),
            long_ago(),
        );
        // 01:00-04:00 local is two real hours that night: three one-hour slots on the grid.
        assert_eq!(
            starts(&slots, tz),
            ["Sun 01:00+01:00", "Sun 01:30+01:00", "Sun 03:00+02:00"]
        );
        assert_eq!(slots[1].end, utc("2026-03-29T01:30:00Z"));
        assert_eq!(
            slots[1].end.with_timezone(&tz).format("%H:%M").to_string(),
            "03:30"
        );
        // A normal morning after the change is at UTC+2.
        let h =
            hours(json!({"time_zone": "Europe/Paris", "weekly": {"monday": [["09:00", "10:00"]]}}));
        let monday = free_slots(
            &h,
            &[],
            utc("2026-03-29T22:00:00Z"),
            utc("2026-03-30T22:00:00Z"),
            TimeDelta::minutes(60),
            long_ago(),
        );
        assert_eq!(
            monday,
            [Slot {
                start: utc("2026-03-30T07:00:00Z"),
                end: utc("2026-03-30T08:00:00Z")
            }]
        );
    }

    #[test]
    fn the_fall_back_night_gives_the_repeated_hour_twice() {
        // Sunday 2026-10-25 in Paris: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
        let tz = chrono_tz::Europe::Paris;
        let h = hours(json!({
            "time_zone": "Europe/Paris", "weekly": {"sunday": [["01:00", "04:00"]]},
            "slot_step_minutes": 60
        }));
        let slots = free_slots(
            &h,
            &[],
            utc("2026-10-24T12:00:00Z"),
            utc("2026-10-25T12:00:00Z"),
            TimeDelta::minutes(60),
            long_ago(),
        );
        // 01:00-04:00 local is four real hours that night.
        assert_eq!(
            starts(&slots, tz),
            [
                "Sun 01:00+02:00",
                "Sun 02:00+02:00",
                "Sun 02:00+01:00",
                "Sun 03:00+01:00"
            ]
        );
        assert_eq!(slots[3].end, utc("2026-10-25T03:00:00Z"));
    }

    #[test]
    fn a_booking_check_names_why_a_slot_cannot_be_taken() {
        let h = salon();
        let now = utc("2026-06-01T00:00:00Z");
        let busy = [Busy::Between(
            utc("2026-06-09T08:00:00Z"),
            utc("2026-06-09T08:30:00Z"),
        )];
        let check = |s: &str, e: &str| check_slot(&h, &busy, utc(s), utc(e), now);
        assert_eq!(
            check("2026-06-09T07:05:00Z", "2026-06-09T07:50:00Z"),
            Ok(())
        );
        assert_eq!(
            check("2026-06-09T07:30:00Z", "2026-06-09T08:15:00Z"),
            Err(Unavailable::Busy)
        );
        // Across lunch, before opening, on a closed date.
        assert_eq!(
            check("2026-06-09T09:30:00Z", "2026-06-09T10:30:00Z"),
            Err(Unavailable::Closed)
        );
        assert_eq!(
            check("2026-06-09T06:30:00Z", "2026-06-09T07:30:00Z"),
            Err(Unavailable::Closed)
        );
        assert_eq!(
            check("2026-06-16T07:00:00Z", "2026-06-16T07:30:00Z"),
            Err(Unavailable::Closed)
        );
        assert_eq!(
            check_slot(
                &h,
                &[],
                utc("2026-06-09T07:00:00Z"),
                utc("2026-06-09T07:30:00Z"),
                utc("2026-06-09T06:00:00Z")
            ),
            Err(Unavailable::TooSoon)
        );
    }

    // Property tests.

    const ZONES: [Tz; 3] = [
        chrono_tz::Europe::Paris,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Lord_Howe,
    ];

    fn quarter(q: u32) -> String {
        format!("{:02}:{:02}", q / 4, q % 4 * 15)
    }

    /// Up to 3 ranges on 15-minute bounds, some adjacent, some across 01:00-03:00.
    fn arb_day() -> impl Strategy<Value = Vec<Vec<String>>> {
        prop::collection::vec((0u32..20, 1u32..30), 0..=3).prop_map(|steps| {
            let mut ranges = Vec::new();
            let mut at = 0;
            for (gap, len) in steps {
                let (start, end) = (at + gap, at + gap + len);
                if end > 95 {
                    break;
                }
                ranges.push(vec![quarter(start), quarter(end)]);
                at = end;
            }
            ranges
        })
    }

    fn arb_hours() -> impl Strategy<Value = BusinessHours> {
        (
            prop::array::uniform7(arb_day()),
            prop::sample::select(ZONES.to_vec()),
            prop::sample::select(vec!["fr", "none", "us-federal"]),
            prop::collection::vec(0i64..10, 0..3),
            prop::sample::select(vec![5u32, 15, 30, 60]),
            0u32..180,
        )
            .prop_filter_map(
                "an open week",
                |(days, tz, holidays, closed, step, notice)| {
                    let [mo, tu, we, th, fr, sa, su] = days;
                    let closed: Vec<String> = closed
                        .iter()
                        .map(|d| {
                            (NaiveDate::from_ymd_opt(2026, 3, 26).unwrap() + TimeDelta::days(*d))
                                .to_string()
                        })
                        .collect();
                    serde_json::from_value::<HoursSpec>(json!({
                        "time_zone": tz.name(),
                        "weekly": {"monday": mo, "tuesday": tu, "wednesday": we, "thursday": th,
                                   "friday": fr, "saturday": sa, "sunday": su},
                        "holidays": holidays, "closed_dates": closed,
                        "slot_step_minutes": step, "min_notice_minutes": notice
                    }))
                    .ok()?
                    .validate("hours")
                    .ok()
                },
            )
    }

    /// A window of up to 4 days around the spring change of 2026 (29 March in Europe, 8 March
    /// in New York, 5 April in Lord Howe) or the autumn one (25 October, 1 November, 4 October).
    fn arb_window() -> impl Strategy<Value = (DateTime<Utc>, DateTime<Utc>)> {
        let starts = vec![
            utc("2026-03-27T00:00:00Z"),
            utc("2026-03-06T00:00:00Z"),
            utc("2026-04-03T00:00:00Z"),
            utc("2026-10-23T00:00:00Z"),
            utc("2026-10-30T00:00:00Z"),
            utc("2026-10-02T00:00:00Z"),
        ];
        (
            prop::sample::select(starts),
            0i64..48 * 60,
            60i64..4 * 24 * 60,
        )
            .prop_map(|(base, shift, len)| {
                let from = base + TimeDelta::minutes(shift);
                (from, from + TimeDelta::minutes(len))
            })
    }

    fn arb_busy(from: DateTime<Utc>) -> impl Strategy<Value = Vec<Busy>> {
        let timed = (0i64..5 * 24 * 60, 5i64..300).prop_map(move |(at, len)| {
            let start = from + TimeDelta::minutes(at);
            Busy::Between(start, start + TimeDelta::minutes(len))
        });
        let all_day = (0i64..5).prop_map(move |d| {
            let day = from.date_naive() + TimeDelta::days(d);
            Busy::Days(day, day + TimeDelta::days(1))
        });
        prop::collection::vec(prop_oneof![6 => timed, 1 => all_day], 0..12)
    }

    fn overlaps(a: (DateTime<Utc>, DateTime<Utc>), b: (DateTime<Utc>, DateTime<Utc>)) -> bool {
        a.0 < b.1 && b.0 < a.1
    }

    fn span(h: &BusinessHours, b: &Busy) -> (DateTime<Utc>, DateTime<Utc>) {
        match *b {
            Busy::Between(s, e) => (s, e),
            Busy::Days(s, e) => (day_start(h.time_zone(), s), day_start(h.time_zone(), e)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn slots_are_sorted_free_inside_the_hours_and_none_is_missed(
            h in arb_hours(),
            (from, to, busy) in arb_window().prop_flat_map(|(f, t)| {
                (Just(f), Just(t), arb_busy(f - TimeDelta::days(1)))
            }),
            minutes in prop::sample::select(vec![5i64, 20, 45, 60, 90]),
            now_shift in -600i64..600,
        ) {
            let tz = h.time_zone();
            let duration = TimeDelta::minutes(minutes);
            let now = from + TimeDelta::minutes(now_shift);
            let slots = free_slots(&h, &busy, from, to, duration, now);
            let earliest = from.max(now + h.min_notice());
            for pair in slots.windows(2) {
                prop_assert!(pair[0].start < pair[1].start, "not sorted: {pair:?}");
            }
            for s in &slots {
                prop_assert_eq!(s.end - s.start, duration);
                prop_assert!(s.start >= earliest && s.end <= to, "{s:?} outside the window");
                for b in &busy {
                    prop_assert!(!overlaps((s.start, s.end), span(&h, b)), "{s:?} overlaps {b:?}");
                }
                // Inside one open window of the weekly hours, on no closed day.
                prop_assert!(h.rules().is_open(s.start, tz), "{s:?} starts closed");
                let close = h.rules().window_end(s.start, tz);
                prop_assert!(close.is_none_or(|c| c >= s.end), "{s:?} runs past {close:?}");
                let last = s.end - TimeDelta::seconds(1);
                for t in [s.start, last] {
                    prop_assert!(!h.closed_on(t.with_timezone(&tz).date_naive()), "{s:?} on a closed day");
                }
                let local = s.start.with_timezone(&tz);
                let step = h.slot_step().num_minutes();
                prop_assert_eq!(i64::from(local.hour() * 60 + local.minute()) % step, 0);
                prop_assert_eq!(local.second(), 0);
                prop_assert_eq!(check_slot(&h, &busy, s.start, s.end, now), Ok(()));
            }
            // Every bookable start on the grid is offered (minute by minute over the window).
            let mut t = earliest;
            while t + duration <= to {
                let local = t.with_timezone(&tz);
                let on_grid = local.second() == 0
                    && i64::from(local.hour() * 60 + local.minute()) % h.slot_step().num_minutes() == 0;
                if on_grid && check_slot(&h, &busy, t, t + duration, now).is_ok() {
                    prop_assert!(slots.iter().any(|s| s.start == t), "{t} is free but not offered");
                }
                t = grid_ceil(t + TimeDelta::minutes(1), tz, TimeDelta::minutes(5));
            }
        }
    }
}
