//! Billing rules: how a call's duration becomes billable minutes, which subscription states
//! let an organisation grow (new assistants, campaign starts), and the grace period.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::Deserialize;

/// How a call's duration is rounded to billable minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinuteRounding {
    /// Every started minute counts: 61 s is 2 minutes, 1 s is 1 minute (telephony's usual rule).
    PerStartedMinute,
    /// Only completed minutes count: 119 s is 1 minute, 59 s is free.
    PerCompletedMinute,
}

impl MinuteRounding {
    /// The configuration's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerStartedMinute => "per_started_minute",
            Self::PerCompletedMinute => "per_completed_minute",
        }
    }
}

/// The billable minutes of a call that talked `duration_secs` seconds (0 for a call nobody
/// answered).
pub fn billable_minutes(duration_secs: u64, rounding: MinuteRounding) -> u64 {
    match rounding {
        MinuteRounding::PerStartedMinute => duration_secs.div_ceil(60),
        MinuteRounding::PerCompletedMinute => duration_secs / 60,
    }
}

/// Whether a subscription in Stripe's `status` pays for the service now.
pub fn is_live_status(status: &str) -> bool {
    matches!(status, "trialing" | "active")
}

/// What an organisation may do, from its subscription and the grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entitlement {
    /// A trialing or active subscription.
    Subscribed,
    /// No live subscription, but inside the grace period until then.
    Grace {
        /// End of the grace period.
        until: DateTime<Utc>,
    },
    /// No live subscription and the grace period is over: say why.
    Lapsed {
        /// For a person to read.
        reason: String,
    },
}

impl Entitlement {
    /// Whether new assistants and campaign starts are allowed.
    pub fn allows_growth(&self) -> bool {
        !matches!(self, Entitlement::Lapsed { .. })
    }
}

/// The organisation's latest subscription, as far as entitlements care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionStanding {
    /// Stripe's status (`past_due`).
    pub status: String,
    /// When it stopped being trialing or active, if it did.
    pub lapsed_at: Option<DateTime<Utc>>,
}

/// Decides the entitlement: a live subscription, or `grace_days` from the organisation's
/// creation, or `grace_days` from when its subscription stopped being live.
pub fn entitlement(
    org_created_at: DateTime<Utc>,
    subscription: Option<&SubscriptionStanding>,
    grace_days: u32,
    now: DateTime<Utc>,
) -> Entitlement {
    let grace = TimeDelta::days(i64::from(grace_days));
    match subscription {
        Some(s) if is_live_status(&s.status) => Entitlement::Subscribed,
        Some(s) => {
            let since = s.lapsed_at.unwrap_or(now).max(org_created_at);
            let until = since + grace;
            if now < until {
                Entitlement::Grace { until }
            } else {
                Entitlement::Lapsed {
                    reason: format!(
                        "the subscription is {} since {} and the {grace_days}-day grace period is over; pay the open invoice or subscribe again (POST /v1/billing/checkout)",
                        s.status,
                        since.format("%Y-%m-%d")
                    ),
                }
            }
        }
        None => {
            let until = org_created_at + grace;
            if now < until {
                Entitlement::Grace { until }
            } else {
                Entitlement::Lapsed {
                    reason: format!(
                        "the organisation has no subscription and its {grace_days}-day grace period ended on {}; subscribe to a plan (POST /v1/billing/checkout)",
                        until.format("%Y-%m-%d")
                    ),
                }
            }
        }
    }
}

/// A calendar month in UTC, as `GET /v1/billing/usage?period=YYYY-MM` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingPeriod {
    start: NaiveDate,
}

impl BillingPeriod {
    /// Parses `YYYY-MM` (years 2000 to 9999).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} must be a month written YYYY-MM, such as 2026-11");
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        if year < 2000 {
            return Err(bad());
        }
        let start = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        Ok(Self { start })
    }

    /// The month containing `at`.
    pub fn containing(at: DateTime<Utc>) -> Self {
        let start = NaiveDate::from_ymd_opt(at.year(), at.month(), 1).unwrap_or(at.date_naive());
        Self { start }
    }

    /// `YYYY-MM`.
    pub fn label(&self) -> String {
        self.start.format("%Y-%m").to_string()
    }

    /// The first instant of the month.
    pub fn start(&self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.start.and_time(chrono::NaiveTime::MIN))
    }

    /// The first instant of the next month.
    pub fn end(&self) -> DateTime<Utc> {
        let next = self
            .start
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX);
        Utc.from_utc_datetime(&next.and_time(chrono::NaiveTime::MIN))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn started_minutes_round_up_and_completed_minutes_round_down() {
        let cases = [
            (0, 0, 0),
            (1, 1, 0),
            (59, 1, 0),
            (60, 1, 1),
            (61, 2, 1),
            (119, 2, 1),
        ];
        for (secs, started, completed) in cases {
            assert_eq!(
                billable_minutes(secs, MinuteRounding::PerStartedMinute),
                started,
                "{secs}"
            );
            assert_eq!(
                billable_minutes(secs, MinuteRounding::PerCompletedMinute),
                completed,
                "{secs}"
            );
        }
    }

    #[test]
    fn a_new_organisation_may_grow_during_its_grace_period_only() {
        let created = at("2026-11-01T00:00:00Z");
        let inside = entitlement(created, None, 14, at("2026-11-14T23:59:59Z"));
        assert_eq!(
            inside,
            Entitlement::Grace {
                until: at("2026-11-15T00:00:00Z")
            }
        );
        let after = entitlement(created, None, 14, at("2026-11-15T00:00:00Z"));
        assert!(!after.allows_growth());
        let Entitlement::Lapsed { reason } = after else {
            unreachable!()
        };
        assert!(reason.contains("no subscription"), "{reason}");
    }

    #[test]
    fn a_live_subscription_allows_growth_and_a_lapsed_one_gets_a_grace_period_from_its_end() {
        let created = at("2026-01-01T00:00:00Z");
        let now = at("2026-11-20T00:00:00Z");
        for status in ["trialing", "active"] {
            let s = SubscriptionStanding {
                status: status.into(),
                lapsed_at: None,
            };
            assert_eq!(
                entitlement(created, Some(&s), 14, now),
                Entitlement::Subscribed
            );
        }
        let recent = SubscriptionStanding {
            status: "past_due".into(),
            lapsed_at: Some(at("2026-11-10T00:00:00Z")),
        };
        assert!(entitlement(created, Some(&recent), 14, now).allows_growth());
        let old = SubscriptionStanding {
            status: "canceled".into(),
            lapsed_at: Some(at("2026-10-01T00:00:00Z")),
        };
        let lapsed = entitlement(created, Some(&old), 14, now);
        let Entitlement::Lapsed { reason } = lapsed else {
            unreachable!()
        };
        assert!(reason.contains("canceled"), "{reason}");
    }

    #[test]
    fn periods_parse_as_calendar_months() {
        let p = BillingPeriod::parse("2026-02").unwrap();
        assert_eq!(p.start(), at("2026-02-01T00:00:00Z"));
        assert_eq!(p.end(), at("2026-03-01T00:00:00Z"));
        assert_eq!(p.label(), "2026-02");
        let d = BillingPeriod::parse("2026-12").unwrap();
        assert_eq!(d.end(), at("2027-01-01T00:00:00Z"));
        for bad in [
            "2026-13", "2026-1", "26-01", "2026/01", "", "abcd-ef", "1999-01",
        ] {
            assert!(BillingPeriod::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BillingPeriod::containing(at("2026-11-30T23:59:59Z")).label(),
            "2026-11"
        );
    }
}
