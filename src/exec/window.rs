//! The sliding window: runs one future per host with at most `parallel` in flight, starting the
//! next host as soon as any finishes (never batch-and-wait). Results come back in input order.

use std::future::Future;

use futures::stream::{self, StreamExt};

pub async fn for_each<'a, I, T, F, Fut>(items: &'a [I], parallel: usize, f: F) -> Vec<T>
where
    F: Fn(&'a I) -> Fut,
    Fut: Future<Output = T> + 'a,
{
    let mut out: Vec<(usize, T)> = stream::iter(items.iter().enumerate().map(|(i, item)| {
        let fut = f(item);
        async move { (i, fut.await) }
    }))
    .buffer_unordered(parallel.max(1))
    .collect()
    .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}
