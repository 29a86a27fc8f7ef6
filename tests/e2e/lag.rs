//! A kube client whose watch events for one resource arrive late, as they do when
//! kube-apiserver is loaded or a watch relists after a blip. Every other request, the list and
//! get of that resource included, passes at once, so the only thing that lags is the cache.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody, combinators::UnsyncBoxBody};
use tokio::time::Instant;

use crate::harness::Shared;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Lagged = UnsyncBoxBody<Bytes, BoxError>;

/// A client for the shared control plane whose watches of `plural` deliver each chunk `delay`
/// after kube-apiserver sent it (in order, none lost).
pub async fn lagging_client(
    shared: &Shared,
    plural: &'static str,
    delay: Duration,
) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(&shared.cp.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let layer = tower::layer::layer_fn(move |inner| LagWatch {
        inner,
        plural,
        delay,
    });
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build()
}

struct LagWatch<S> {
    inner: S,
    plural: &'static str,
    delay: Duration,
}

impl<S, B> tower::Service<http::Request<kube::client::Body>> for LagWatch<S>
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Lagged>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        let uri = req.uri();
        let lag = uri.path().ends_with(self.plural)
            && uri.query().is_some_and(|q| q.contains("watch=true"));
        let delay = self.delay;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|body| {
                if lag {
                    delayed(body, delay)
                } else {
                    body.map_err(Into::into).boxed_unsync()
                }
            }))
        })
    }
}

/// Reads the body as it comes and hands each frame on `delay` after it arrived.
fn delayed<B>(mut body: B, delay: Duration) -> Lagged
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(Into::into);
            let end = frame.is_err();
            if tx.send((Instant::now() + delay, frame)).is_err() || end {
                break;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let (due, frame) = rx.recv().await?;
        tokio::time::sleep_until(due).await;
        Some((frame, rx))
    });
    StreamBody::new(stream).boxed_unsync()
}
