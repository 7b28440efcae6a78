//! The functions served over loopback HTTP for load runs, as Lambda runs them: each call runs to
//! its end in its own task even when the client has gone (a load tool stops mid-request at the end
//! of its run), and [`settle`] waits for the last one before the table is checked.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use tokio::net::TcpListener;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// [`super::browser::serve`], with every call of `handle` run to its end.
pub async fn serve<H, F>(handle: H, listener: TcpListener)
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    super::browser::serve(
        move |req| {
            IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
            let call = tokio::spawn({
                let handled = handle(req);
                async move {
                    let response = handled.await;
                    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                    response
                }
            });
            async move { call.await.unwrap() }
        },
        listener,
    )
    .await
}

/// Waits until every call started has finished.
pub async fn settle() {
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
