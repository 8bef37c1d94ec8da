//! The SQL statements a piece of work sends, counted from sqlx's own
//! `sqlx::query` events: what a request costs the database, whatever the
//! pool and the server.

tokio::task_local! {
    static STATEMENTS: std::cell::Cell<usize>;
}

/// Counts the SQL statements sqlx sends while `work` runs, from its
/// `sqlx::query` events: one per round trip, whatever the statement, except
/// the session set-up of a connection opened on the way. A
/// process-wide subscriber counts into the running task's counter, so work
/// running side by side (tests, say) is not counted in each other's figure.
pub async fn count_statements<F: std::future::Future>(work: F) -> (F::Output, usize) {
    use tracing::{Event, Metadata, span};

    struct Counter;
    impl tracing::Subscriber for Counter {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.target() == "sqlx::query"
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            if event.metadata().target() != "sqlx::query" {
                return;
            }
            // A connection the pool opens on the way sends its own `SET ...`
            // statements; they belong to the connection, not the request.
            struct Summary(bool);
            impl tracing::field::Visit for Summary {
                fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                    if field.name() == "summary"
                        && value.trim_start().to_ascii_uppercase().starts_with("SET ")
                    {
                        self.0 = true;
                    }
                }
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "summary" {
                        let text = format!("{value:?}");
                        if text
                            .trim_start_matches('"')
                            .to_ascii_uppercase()
                            .starts_with("SET ")
                        {
                            self.0 = true;
                        }
                    }
                }
            }
            let mut summary = Summary(false);
            event.record(&mut summary);
            if !summary.0 {
                let _ = STATEMENTS.try_with(|n| n.set(n.get() + 1));
            }
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Counter)
            .expect("no other global subscriber in this process");
    });
    STATEMENTS
        .scope(std::cell::Cell::new(0), async {
            let output = work.await;
            (output, STATEMENTS.with(|n| n.get()))
        })
        .await
}
