//! The cron table across scheduler replicas.

use chrono::Utc;
use zencall_core::store::test_db::TestDb;
use zencall_queue::Enqueued;
use zencall_queue::board::admin;
use zencall_scheduler::cron_table;

#[tokio::test]
async fn two_schedulers_enqueue_each_cron_tick_exactly_once() {
    for t in TestDb::all().await {
        for entry in cron_table() {
            let tick = entry.next_tick(Utc::now()).unwrap();
            let (a, b) = tokio::join!(
                entry.enqueue_tick(&t.db, tick, 3),
                entry.enqueue_tick(&t.db, tick, 3)
            );
            let outcomes = [a.unwrap(), b.unwrap()];
            let new = outcomes
                .iter()
                .filter(|o| matches!(o, Enqueued::New(_)))
                .count();
            assert_eq!(new, 1, "{:?} {}: {outcomes:?}", t.backend(), entry.name);
            assert!(outcomes.contains(&Enqueued::Duplicate));
            let next = entry.next_tick(tick).unwrap();
            assert!(
                matches!(
                    entry.enqueue_tick(&t.db, next, 3).await.unwrap(),
                    Enqueued::New(_)
                ),
                "the next tick is a new job"
            );
        }
        let mut jobs: i64 = 0;
        for queue in ["maintenance", "campaigns", "calendar", "billing"] {
            jobs += admin::counts(&t.db, queue)
                .await
                .unwrap()
                .values()
                .sum::<i64>();
        }
        assert_eq!(jobs, 2 * cron_table().len() as i64);
        t.drop_database().await;
    }
}
