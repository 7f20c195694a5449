//! Public-holiday calendars, computed for any year (no per-year tables): the calling window
//! of [`crate::domain::calling_window`] stays closed on every holiday of the contact's calendar.
//! The rules in force today are applied to every year, past ones included.

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};

/// A calendar of public holidays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HolidayCalendar {
    /// France: the 11 public holidays of the Code du travail (L.3133-1).
    France,
    /// Alsace-Moselle (Bas-Rhin, Haut-Rhin, Moselle): France plus Good Friday and 26 December
    /// (Code du travail L.3134-13).
    FranceAlsaceMoselle,
    /// United States federal holidays (5 U.S.C. 6103). A fixed-date holiday falling on a
    /// Saturday is observed the Friday before, on a Sunday the Monday after; for calling purposes
    /// both the actual and the observed dates are holidays.
    UnitedStatesFederal,
    /// No public holidays.
    None,
}

/// French holidays at a fixed date: (month, day, name).
const FRANCE_FIXED: [(u32, u32, &str); 8] = [
    (1, 1, "Jour de l'an"),
    (5, 1, "Fête du Travail"),
    (5, 8, "Victoire 1945"),
    (7, 14, "Fête nationale"),
    (8, 15, "Assomption"),
    (11, 1, "Toussaint"),
    (11, 11, "Armistice 1918"),
    (12, 25, "Noël"),
];

/// French holidays relative to Easter Sunday: (days after Easter, name).
const FRANCE_FROM_EASTER: [(i64, &str); 3] = [
    (1, "Lundi de Pâques"),
    (39, "Ascension"),
    (50, "Lundi de Pentecôte"),
];

/// US federal holidays at a fixed date: (month, day, name, name of the observed day).
const US_FIXED: [(u32, u32, &str, &str); 5] = [
    (1, 1, "New Year's Day", "New Year's Day (observed)"),
    (
        6,
        19,
        "Juneteenth National Independence Day",
        "Juneteenth National Independence Day (observed)",
    ),
    (7, 4, "Independence Day", "Independence Day (observed)"),
    (11, 11, "Veterans Day", "Veterans Day (observed)"),
    (12, 25, "Christmas Day", "Christmas Day (observed)"),
];

/// US federal holidays on the n-th weekday of a month: (month, weekday, n, name); n = 5 means
/// the last one.
const US_FLOATING: [(u32, Weekday, u8, &str); 6] = [
    (1, Weekday::Mon, 3, "Birthday of Martin Luther King, Jr."),
    (2, Weekday::Mon, 3, "Washington's Birthday"),
    (5, Weekday::Mon, 5, "Memorial Day"),
    (9, Weekday::Mon, 1, "Labor Day"),
    (10, Weekday::Mon, 2, "Columbus Day"),
    (11, Weekday::Thu, 4, "Thanksgiving Day"),
];

impl HolidayCalendar {
    /// The stable name used in configuration and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::France => "fr",
            Self::FranceAlsaceMoselle => "fr-alsace-moselle",
            Self::UnitedStatesFederal => "us-federal",
            Self::None => "none",
        }
    }

    /// Parses a name written by [`HolidayCalendar::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "fr" => Some(Self::France),
            "fr-alsace-moselle" => Some(Self::FranceAlsaceMoselle),
            "us-federal" => Some(Self::UnitedStatesFederal),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Whether `date` is a public holiday of this calendar.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays(date.year()).iter().any(|(d, _)| *d == date)
    }

    /// The holidays falling in `year`, sorted by date, with their French (France) or English
    /// (US) name. One entry per holiday, so two entries can share a date (in France, Ascension
    /// falls on 1 or 8 May in some years, e.g. 2008). US observed days are separate entries.
    pub fn holidays(&self, year: i32) -> Vec<(NaiveDate, &'static str)> {
        let mut days = match self {
            Self::France => france(year),
            Self::FranceAlsaceMoselle => {
                let mut days = france(year);
                let easter = easter_sunday(year);
                days.extend(from_easter(easter, -2).map(|d| (d, "Vendredi saint")));
                days.extend(NaiveDate::from_ymd_opt(year, 12, 26).map(|d| (d, "Saint-Étienne")));
                days
            }
            Self::UnitedStatesFederal => {
                // 1 January of next year can be observed on 31 December of this one.
                let mut days = united_states(year);
                days.extend(united_states(year.saturating_add(1)));
                days.retain(|(d, _)| d.year() == year);
                days
            }
            Self::None => Vec::new(),
        };
        days.sort_by_key(|(d, _)| *d);
        days
    }
}

/// Easter Sunday of the Gregorian calendar, by the anonymous algorithm (Meeus/Jones/Butcher).
/// `None` only for a year outside the range of [`NaiveDate`].
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    NaiveDate::from_ymd_opt(year, (n / 31) as u32, (n % 31 + 1) as u32)
}

/// The date `days` after Easter Sunday.
fn from_easter(easter: Option<NaiveDate>, days: i64) -> Option<NaiveDate> {
    easter?.checked_add_signed(TimeDelta::days(days))
}

/// The 11 French public holidays of `year`.
fn france(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let easter = easter_sunday(year);
    let fixed = FRANCE_FIXED
        .iter()
        .filter_map(|&(m, d, name)| Some((NaiveDate::from_ymd_opt(year, m, d)?, name)));
    let moving = FRANCE_FROM_EASTER
        .iter()
        .filter_map(|&(offset, name)| Some((from_easter(easter, offset)?, name)));
    fixed.chain(moving).collect()
}

/// The US federal holidays of holiday-year `year`, with observed days (which may fall in the
/// year before).
fn united_states(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut days = Vec::new();
    for &(month, day, name, observed_name) in &US_FIXED {
        let Some(date) = NaiveDate::from_ymd_opt(year, month, day) else {
            continue;
        };
        days.push((date, name));
        let observed = match date.weekday() {
            Weekday::Sat => date.pred_opt(),
            Weekday::Sun => date.succ_opt(),
            _ => None,
        };
        days.extend(observed.map(|d| (d, observed_name)));
    }
    for &(month, weekday, n, name) in &US_FLOATING {
        let date = NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
            .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n - 1));
        days.extend(date.map(|d| (d, name)));
    }
    days
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn easter_falls_on_the_known_dates() {
        for (y, m, d) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2285, 3, 22),
            (2008, 3, 23),
            (1961, 4, 2),
        ] {
            assert_eq!(easter_sunday(y), Some(date(y, m, d)), "Easter {y}");
        }
    }

    #[test]
    fn each_french_holiday_of_2026_is_a_holiday() {
        let expected = [
            (1, 1, "Jour de l'an"),
            (4, 6, "Lundi de Pâques"),
            (5, 1, "Fête du Travail"),
            (5, 8, "Victoire 1945"),
            (5, 14, "Ascension"),
            (5, 25, "Lundi de Pentecôte"),
            (7, 14, "Fête nationale"),
            (8, 15, "Assomption"),
            (11, 1, "Toussaint"),
            (11, 11, "Armistice 1918"),
            (12, 25, "Noël"),
        ];
        let got = HolidayCalendar::France.holidays(2026);
        let want: Vec<_> = expected
            .iter()
            .map(|&(m, d, name)| (date(2026, m, d), name))
            .collect();
        assert_eq!(got, want);
        for (d, _) in want {
            assert!(HolidayCalendar::France.is_holiday(d), "{d}");
        }
        assert!(!HolidayCalendar::France.is_holiday(date(2026, 4, 3)));
        assert!(!HolidayCalendar::France.is_holiday(date(2026, 12, 26)));
        assert!(!HolidayCalendar::France.is_holiday(date(2026, 4, 5)));
    }

    #[test]
    fn alsace_moselle_adds_good_friday_and_saint_stephen() {
        let cal = HolidayCalendar::FranceAlsaceMoselle;
        assert!(cal.is_holiday(date(2026, 4, 3)));
        assert!(cal.is_holiday(date(2026, 12, 26)));
        assert!(cal.is_holiday(date(2025, 4, 18)));
        assert!(cal.is_holiday(date(2026, 7, 14)));
        let names: Vec<_> = cal.holidays(2026).into_iter().map(|(_, n)| n).collect();
        assert!(names.contains(&"Vendredi saint") && names.contains(&"Saint-Étienne"));
    }

    #[test]
    fn france_has_11_holidays_and_alsace_moselle_13_every_year() {
        for year in 1900..2200 {
            assert_eq!(HolidayCalendar::France.holidays(year).len(), 11, "{year}");
            let alsace = HolidayCalendar::FranceAlsaceMoselle.holidays(year);
            assert_eq!(alsace.len(), 13, "{year}");
            assert!(alsace.windows(2).all(|w| w[0].0 <= w[1].0), "{year} sorted");
        }
    }

    #[test]
    fn ascension_can_share_a_date_with_labour_day() {
        let days = HolidayCalendar::France.holidays(2008);
        let on_may_first = days.iter().filter(|(d, _)| *d == date(2008, 5, 1)).count();
        assert_eq!(on_may_first, 2);
    }

    #[test]
    fn us_fixed_holidays_on_a_weekend_are_also_observed_on_the_nearest_weekday() {
        let us = HolidayCalendar::UnitedStatesFederal;
        // 4 July 2026 is a Saturday.
        assert!(us.is_holiday(date(2026, 7, 4)));
        assert!(us.is_holiday(date(2026, 7, 3)));
        assert!(!us.is_holiday(date(2026, 7, 6)));
        // 1 January 2022 is a Saturday: observed on Friday 31 December 2021.
        assert!(us.is_holiday(date(2022, 1, 1)));
        assert!(us.is_holiday(date(2021, 12, 31)));
        assert!(
            us.holidays(2021)
                .contains(&(date(2021, 12, 31), "New Year's Day (observed)"))
        );
        // 19 June 2022 and 25 December 2022 are Sundays: observed on the Monday.
        assert!(us.is_holiday(date(2022, 6, 20)));
        assert!(us.is_holiday(date(2022, 12, 26)));
        assert!(!us.is_holiday(date(2022, 12, 24)));
    }

    #[test]
    fn us_floating_holidays_of_2026() {
        let us = HolidayCalendar::UnitedStatesFederal;
        for (m, d) in [(1, 19), (2, 16), (5, 25), (9, 7), (10, 12), (11, 26)] {
            assert!(us.is_holiday(date(2026, m, d)), "2026-{m}-{d}");
        }
        // Memorial Day when May has five Mondays (2027: 3, 10, 17, 24, 31).
        assert!(us.is_holiday(date(2027, 5, 31)));
        assert!(!us.is_holiday(date(2027, 5, 24)));
        assert_eq!(us.holidays(2026).len(), 12);
        assert_eq!(us.holidays(2022).len(), 13);
        assert_eq!(us.holidays(2021).len(), 15);
    }

    #[test]
    fn the_empty_calendar_has_no_holiday() {
        assert!(HolidayCalendar::None.holidays(2026).is_empty());
        assert!(!HolidayCalendar::None.is_holiday(date(2026, 12, 25)));
    }

    #[test]
    fn names_round_trip() {
        for cal in [
            HolidayCalendar::France,
            HolidayCalendar::FranceAlsaceMoselle,
            HolidayCalendar::UnitedStatesFederal,
            HolidayCalendar::None,
        ] {
            assert_eq!(HolidayCalendar::parse(cal.as_str()), Some(cal));
        }
        assert_eq!(HolidayCalendar::parse("FR"), None);
    }
}
